//! Whole-system tests: the real `mes` binary run as separate processes (central and edge
//! agents), killed and restarted, checked against the delivery contract of DESIGN.md: every
//! event an edge commits reaches central exactly once, in order, with its id.

mod central_pages;
mod crash;
mod crm_pages;
mod crm_pipeline;
mod crm_sales_pages;
mod delivery;
mod demo;
mod fleet;
mod instances;
mod mqtt;
mod notify;
mod oa_pages;
mod people;
mod plans;
mod plant;
mod soak;
mod story;
mod support;
mod terminal;
mod tls;
