//! Typed client for the datacoop consent broker (work in progress in this commit).
