//! The built `mb` on a machine without AWS configuration.

mod first_contact;
