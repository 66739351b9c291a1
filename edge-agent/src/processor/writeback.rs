//! Work-order parameters written down to a PLC. For each Modbus device with
//! `[[sources.write]]` targets, a small task watches the plan in force: when the work order
//! an operator started on the device's station changes (a signed-in operator scanned it), it
//! hands the device task a job with the work order's
//! `plc_parameters` (and its id as the parameter `work_order`) and records how it went:
//!
//! - every target written and read back as written: `WorkOrderStarted` (work order and
//!   operation, from the device and its station);
//! - otherwise a `DeviceFault` naming the device, the work order and what failed. A failure
//!   of the link (timeout, connection lost) is retried after a wait that doubles from 1 s to
//!   60 s, until written or until the station's work order changes; a refusal (a value that does
//!   not fit, a PLC exception, a read-back that differs) is not retried, as writing the same
//!   values again would fail the same way.
//!
//! The last work order written is kept in the journal's state (`plc_written/<device>`), so an
//! edge restart does not write (and report) the same work order again. It is saved after the
//! event is handed to the processor: a crash in between writes it once more, never loses it.
//!
//! Configured targets whose parameter the work order does not carry are not written; a job is
//! sent only when at least one target has a value.

use crate::config::modbus::{ModbusDevice, WriteTarget};
use crate::journal::JournalHandle;
use crate::live::FloorView;
use crate::processor::readings::Started;
use crate::sources::modbus::write::{WriteFailure, WriteJob};
use crate::sources::{SourceMessage, Value};
use chrono::Utc;
use protocol::{EventBody, EventId, EventKind, Plan, Source, WorkOrderId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The first wait before writing a work order's parameters again after a link failure; it
/// doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_secs(1);
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// A work order's values for a device's write targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameters {
    pub work_order: WorkOrderId,
    pub operation: Option<u32>,
    pub values: Vec<(String, Value)>,
}

/// What to write for the work order an operator started on `station` under `plan`: the work
/// order, its operation there, and the values of the configured targets it carries. `started`
/// holds only orders started by a signed-in operator ([`Floor::started_by_operator`]): nothing
/// is written to a PLC for an order nobody started, whatever the plan lists first.
///
/// [`Floor::started_by_operator`]: crate::processor::scan::Floor::started_by_operator
pub fn job_for(
    targets: &[WriteTarget],
    plan: Option<&Plan>,
    started: &Started,
    station: Option<&str>,
) -> Option<Parameters> {
    let (work_order, operation) = started.get(&protocol::StationId::from(station?))?.clone();
    plan?.work_order(work_order.as_str())?;
    let wo = plan?
        .work_orders
        .iter()
        .find(|w| w.work_order == work_order)?;
    let values: Vec<(String, Value)> = targets
        .iter()
        .filter_map(|t| {
            let value = if t.parameter == "work_order" {
                Value::Text(work_order.as_str().to_owned())
            } else {
                json_value(wo.plc_parameters.get(&t.parameter)?)
            };
            Some((t.parameter.clone(), value))
        })
        .collect();
    (!values.is_empty()).then_some(Parameters {
        work_order,
        operation,
        values,
    })
}

fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// The journal state key of the last work order written to a device.
pub fn written_key(device: &str) -> String {
    format!("plc_written/{device}")
}

/// Watches the plan and writes each new work order's parameters to `device` through
/// `to_device`, until shutdown or until the device task or the processor is gone.
pub async fn run(
    device: ModbusDevice,
    mut plan: watch::Receiver<Option<Arc<Plan>>>,
    mut floor: watch::Receiver<Arc<FloorView>>,
    to_device: mpsc::Sender<WriteJob>,
    to_processor: mpsc::Sender<SourceMessage>,
    journal: JournalHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let watching = async {
        let key = written_key(&device.device);
        let mut last = journal.get_state(&key).await.ok().flatten();
        // After a link failure: the work order to write again, and the wait before it.
        let mut retry: Option<(WorkOrderId, Duration)> = None;
        loop {
            let current = plan.borrow_and_update().clone();
            let started = floor.borrow_and_update().floor.started_by_operator();
            if let Some(Parameters {
                work_order,
                operation,
                values,
            }) = job_for(
                &device.writes,
                current.as_deref(),
                &started,
                device.station.as_deref(),
            ) && last.as_deref() != Some(work_order.as_str())
            {
                let wait = match retry.take() {
                    Some((wo, wait)) if wo == work_order => wait,
                    _ => RETRY_MIN,
                };
                let (done, result) = oneshot::channel();
                if to_device.send(WriteJob { values, done }).await.is_err() {
                    return;
                }
                let Ok(result) = result.await else { return };
                let kind = match &result {
                    Ok(()) => EventKind::WorkOrderStarted {
                        work_order: work_order.clone(),
                        operation,
                    },
                    Err(WriteFailure { message, transport }) => EventKind::DeviceFault {
                        device: device.device.as_str().into(),
                        message: format!(
                            "modbus device {} (unit {} at {}): parameters of work order {} not written: {message}; {}",
                            device.device,
                            device.unit,
                            device.host,
                            work_order.as_str(),
                            if *transport {
                                format!("retried in {} s", wait.as_secs())
                            } else {
                                "not retried until the station's work order changes".to_owned()
                            }
                        ),
                    },
                };
                match &result {
                    Ok(()) => {
                        tracing::info!(device = %device.device, work_order = %work_order.as_str(),
                        "work order parameters written and verified")
                    }
                    Err(e) => {
                        tracing::warn!(device = %device.device, work_order = %work_order.as_str(),
                        error = %e, "work order parameters not written")
                    }
                }
                let body = EventBody {
                    id: EventId(uuid::Uuid::now_v7()),
                    at: Utc::now(),
                    source: Source {
                        device: Some(device.device.as_str().into()),
                        station: device.station.as_deref().map(Into::into),
                    },
                    kind,
                };
                if to_processor
                    .send(SourceMessage::Event(Box::new(body)))
                    .await
                    .is_err()
                {
                    return;
                }
                if matches!(
                    &result,
                    Err(WriteFailure {
                        transport: true,
                        ..
                    })
                ) {
                    retry = Some((work_order, (wait * 2).min(RETRY_MAX)));
                    // Not handled yet: written again after the wait (below).
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        r = plan.changed() => if r.is_err() { return },
                        r = floor.changed() => if r.is_err() { return },
                    }
                    continue;
                }
                // Written, or refused for good: handled either way.
                last = Some(work_order.as_str().to_owned());
                if let Err(e) = journal.put_state(&key, work_order.as_str()).await {
                    tracing::error!(error = %e, key, "cannot save the last work order written");
                }
            }
            // A new plan or a work order started by a scan.
            let changed = tokio::select! {
                r = plan.changed() => r,
                r = floor.changed() => r,
            };
            if changed.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = watching => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::{ByteOrder, DataType};
    use protocol::{PlanOperation, PlanWorkOrder};
    use std::collections::BTreeMap;

    fn target(parameter: &str, address: u16, data_type: DataType) -> WriteTarget {
        WriteTarget {
            parameter: parameter.into(),
            address,
            data_type,
            order: ByteOrder::Abcd,
        }
    }

    fn plan() -> Plan {
        let wo = |id: &str, station: &str, qty: u64| PlanWorkOrder {
            work_order: id.into(),
            item: "BRACKET".into(),
            qty: 1.into(),
            uom: "pcs".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            priority: 0,
            operations: vec![PlanOperation {
                operation: 10,
                description: "stamp".into(),
                station: Some(station.into()),
                allowed_components: vec![],
                components: vec![],
                skill: None,
            }],
            plc_parameters: BTreeMap::from([
                ("target_qty".to_owned(), serde_json::json!(qty)),
                ("recipe".to_owned(), serde_json::json!("17")),
            ]),
            on_hold: false,
            made_for: Vec::new(),
        };
        Plan {
            edge_id: "line-1".into(),
            version: protocol::PlanVersion(3),
            published_at: Utc::now(),
            epoch: None,
            work_orders: vec![wo("WO-1", "st-10", 500), wo("WO-2", "st-20", 80)],
            lots: vec![],
            gtins: Default::default(),
            operators: Vec::new(),
            rules: None,
            shipments: Vec::new(),
            requisitions: Vec::new(),
        }
    }

    #[test]
    fn the_station_work_order_parameters_are_picked_and_absent_ones_skipped() {
        let targets = [
            target("target_qty", 10, DataType::U32),
            target("recipe", 12, DataType::U16),
            target("work_order", 13, DataType::String { chars: 14 }),
            target("not_in_plan", 20, DataType::U16),
        ];
        // Issue 11: nothing is written for an order nobody started, even the plan's only one.
        assert!(job_for(&targets, Some(&plan()), &Started::new(), Some("st-20")).is_none());
        let started = Started::from([(
            protocol::StationId::from("st-20"),
            (protocol::WorkOrderId::from("WO-2"), Some(10)),
        )]);
        let p = job_for(&targets, Some(&plan()), &started, Some("st-20")).unwrap();
        assert_eq!((p.work_order.as_str(), p.operation), ("WO-2", Some(10)));
        assert_eq!(
            p.values,
            vec![
                ("target_qty".to_owned(), Value::UInt(80)),
                ("recipe".to_owned(), Value::Text("17".into())),
                ("work_order".to_owned(), Value::Text("WO-2".into())),
            ]
        );
        assert!(job_for(&targets, None, &started, Some("st-20")).is_none());
        assert!(job_for(&targets[3..], Some(&plan()), &started, Some("st-20")).is_none());
        assert!(job_for(&targets, Some(&plan()), &started, Some("st-10")).is_none());
    }
}
