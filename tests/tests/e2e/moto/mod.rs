//! AWS as moto emulates it (`mb_tests::moto`), through the built `mb` or the real SDK
//! clients; where moto lacks an API, a wire fake of it besides (`mb_tests::fake_iam`,
//! `mb_tests::fake_lambda`).

mod artifacts;
mod doctor;
mod dynamodb_store;
mod history;
mod lifecycle;
mod logs;
mod settings;
mod token;
