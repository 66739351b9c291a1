//! CRM: customers and their contacts, business cards in (vCard, CSV) with duplicates found,
//! activities and follow-up tasks, the pipeline, prices and quotations, sales orders with
//! promise dates, shipping and after-sales (issue 16).
//!
//! Pure rules only, no I/O (the store keeps, the API parses and checks permissions):
//! - [`customers`]: customers, contacts, activities and tasks as central keeps them, and the
//!   checks of what people send.
//! - [`vcard`]: vCard 2.1, 3.0 and 4.0 read (folding, escapes, quoted-printable, charsets)
//!   and 4.0 written.
//! - [`dedupe`]: the keys duplicates are found by: an e-mail address, a phone number, a
//!   company's name written differently (legal forms, width, case, punctuation).
//! - [`scope`]: whose records a salesperson, their manager and head office see.
//! - [`pipeline`]: leads, opportunities through their stages to won or lost, the weighted
//!   forecast.
//! - [`pricing`]: price lists (quantity breaks, validity, customer and group prices), exchange
//!   rates, tax rates, and which price applies.
//! - [`promise`]: promise dates: available-to-promise, then capable-to-promise.
//! - [`sales`]: quotations and sales orders as documents: amounts, totals, states, validity,
//!   the credit check.
//! - [`pdf`]: documents people send as PDF, in Chinese or English: the quotation, the
//!   delivery note, and SSCC shipping labels (also as ZPL).

pub mod customers;
pub mod dedupe;
pub mod pdf;
pub mod pipeline;
pub mod pricing;
pub mod promise;
pub mod sales;
pub mod scope;
pub mod vcard;
