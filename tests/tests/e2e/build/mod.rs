//! `mb build` through the cargo-zigbuild and zig that `./scripts/test` installs into
//! `.venv`: the real function, cross-compiled. Named to sort first: libtest starts tests
//! in name order, and the function's build is most of the end-to-end run's CPU, so it
//! starts while the other tests mostly wait on sockets.

mod package_zigbuild;
