//! Test support for datacoop's end-to-end tests.
