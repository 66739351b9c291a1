//! People: who works in the company and what they may do. The operator registry
//! ([`operators`]) that plans carry down to the lines; [`plants`] and their rules; [`users`]
//! who sign in to central, their passwords and lockouts; [`roles`], the one matrix of
//! permissions.

pub mod operators;
pub mod plants;
pub mod roles;
pub mod users;
