//! People: who works at the lines and who acts on central. The operator registry
//! ([`operators`]) that plans carry down to the edges, plants ([`plants`]), and the audit
//! trail ([`audit`]): who changed what, when, from where; users and roles come here as they
//! land.

pub mod audit;
pub mod operators;
pub mod plants;
