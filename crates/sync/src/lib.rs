#![forbid(unsafe_code)]
//! Doorstep's sync client.
