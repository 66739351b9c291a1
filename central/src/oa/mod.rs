//! OA: forms and approval workflows (issue 17), as pure rules: no I/O, no clock (callers bring
//! `now`), no store (callers bring a [`engine::Directory`] of people, roles and delegations).
//!
//! - [`form`]: document types and their fields, defined as data, and the check of what a
//!   requester fills in (every problem named by its field).
//! - [`workflow`]: workflows as data: steps with their approvers (by role, named user, the
//!   requester's manager up N levels, a role in the document's plant, or a user field of the
//!   form), how many of them must approve, conditions on the form's fields choosing the steps,
//!   and rules that approve a step without asking up to an amount (inclusive). A definition is
//!   checked when it is saved: a step nobody can approve is refused then, not when a request
//!   gets stuck on it.
//! - [`engine`]: a request's way through the version of the workflow it started with:
//!   submitted, each step's tasks assigned (to a delegate when the approver is away), approved,
//!   rejected, returned for changes and resubmitted, or withdrawn; the trail says who did what,
//!   for whom, and which rule approved a step.
//!
//! Steps run one after another; a workflow has no transitions back, so it always finishes: a
//! request ends approved, rejected or withdrawn, or waits on its requester after a return.

pub mod attachment;
pub mod engine;
pub mod form;
pub mod workflow;

#[cfg(test)]
mod tests;
