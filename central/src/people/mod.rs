//! People: who works in the company, what they may do, and what they did. The operator
//! registry ([`operators`]) that plans carry down to the lines; [`plants`] and their rules;
//! [`users`] who sign in to central, their passwords and lockouts; [`roles`], the one matrix
//! of permissions; the audit trail ([`audit`]): who changed what, when, from where.

pub mod audit;
pub mod operators;
pub mod plants;
pub mod roles;
pub mod users;
