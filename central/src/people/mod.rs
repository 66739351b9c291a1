//! People: who works at the lines. For now the operator registry ([`operators`]) that plans
//! carry down to the edges; plants, users, roles and the audit trail come here as they land.

pub mod operators;
pub mod plants;
