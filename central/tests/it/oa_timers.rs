//! Issue 17, reminders, escalation and notifications on both stores: timers counted on the
//! plant's working time, kept across a restart, fired once, stopped when the request ends;
//! an escalated step decided by the approver's manager; each person told in the app.

use crate::crm::{Team, get, person, post, team};
use crate::people::Session;
use crate::work_orders::{ok, put};
use crate::*;
use central::mes::shifts::{ShiftCalendar, ShiftCalendarSpec};
use chrono::{DateTime, Duration, SubsecRound};

/// 08:30-17:30 Monday to Friday in Shanghai, lunch 12:00-13:00: an office's week.
fn office() -> Value {
    json!({"time_zone": "Asia/Shanghai", "shifts": [{"name": "office", "start": "08:30", "end": "17:30",
        "days": ["mon", "tue", "wed", "thu", "fri"], "breaks": [{"name": "lunch", "start": "12:00", "end": "13:00"}]}]})
}

fn trip() -> Value {
    let (from, to) = crate::oa::trip_week();
    json!({"form": "travel", "values": {
        "destination": "Hannover Messe",
        "dates": {"from": from, "to": to},
        "reason": "the trade fair",
        "budget": {"amount": "2500", "currency": "CNY"}
    }})
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The request's timers: kind → due.
fn timers(h: &Harness, id: i64) -> Vec<(String, DateTime<Utc>)> {
    h.sql(
        "SELECT kind, due_at FROM oa_timers WHERE request = ?1 ORDER BY kind",
        vec![SqlValue::Integer(id)],
    )
    .into_iter()
    .map(|r| (r[0].as_str().unwrap().to_owned(), at(&r[1])))
    .collect()
}

async fn kinds(h: &Harness, s: &Session) -> Vec<String> {
    let reply = get(h, s, "/api/v1/notifications?limit=50").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn issue_17_reminders_and_escalation_fire_on_working_time_across_a_restart() {
    let h = Harness::new().await;
    let Team { li, .. } = team(&h).await;
    let boss = person(&h, "boss.gm", "plant_manager", None).await;
    // chen.mgr (li's manager) reports to the boss.
    let chen = person(&h, "chen.mgr", "sales_manager", Some("boss.gm")).await;
    ok(&put(&h, "/api/v1/plants/default/shifts", office()).await);
    // A step without a timer in range is refused when saved, named.
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/travel",
            Some(ADMIN),
            Some(json!({"form": "travel", "steps": [{"name": "manager",
                "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"},
                "remind_after_minutes": 0}]})),
        )
        .await;
    assert!(
        reply
            .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .contains("steps[0] (manager).remind_after_minutes: 0"),
        "{}",
        reply.json
    );
    let reply = h
        .call(
            Method::PUT,
            "/api/v1/oa/workflows/travel",
            Some(ADMIN),
            Some(json!({"form": "travel", "calendar": {"plant": "default"}, "steps": [{"name": "manager",
                "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"},
                "remind_after_minutes": 240, "escalate_after_minutes": 960}]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);

    let reply = post(&h, &li, "/api/v1/oa/requests", trip()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    let id = reply.json["id"].as_i64().unwrap();
    let since = at(&reply.json["waiting_since"]);
    // Due after 4 and 16 hours of the office's working time, not of the wall clock.
    let cal = ShiftCalendar::new(&serde_json::from_value::<ShiftCalendarSpec>(office()).unwrap())
        .unwrap();
    // The store keeps times to the microsecond: a request made during working hours has its
    // timers at a time with the request's own fraction of a second, cut there.
    let stored = |t: DateTime<Utc>| t.trunc_subsecs(6);
    let remind_at = stored(cal.working_after(since, 240, |_| false).unwrap());
    let escalate_at = stored(cal.working_after(since, 960, |_| false).unwrap());
    assert!(escalate_at - since >= Duration::hours(16));
    assert_eq!(
        timers(&h, id),
        [
            ("escalate".to_owned(), escalate_at),
            ("remind".to_owned(), remind_at)
        ]
    );
    // chen is told it waits on him.
    assert_eq!(kinds(&h, &chen).await, ["oa.waiting"]);

    // A restart keeps the timers.
    let h = h.reopen().await;
    assert_eq!(timers(&h, id).len(), 2);
    let store = h.store().clone();
    let early = store
        .fire_oa_timers(remind_at - Duration::seconds(1), 100)
        .await
        .unwrap();
    assert_eq!(early.total(), 0, "nothing is due a second early");
    let fired = store.fire_oa_timers(remind_at, 100).await.unwrap();
    assert_eq!((fired.reminders, fired.escalations), (1, 0));
    // Fired once: the same instant again fires nothing.
    assert_eq!(
        store.fire_oa_timers(remind_at, 100).await.unwrap().total(),
        0
    );
    assert_eq!(kinds(&h, &chen).await, ["oa.reminder", "oa.waiting"]);
    // The next reminder is one more period of working time on.
    let next = timers(&h, id);
    assert_eq!(
        next[1],
        (
            "remind".to_owned(),
            cal.working_after(remind_at, 240, |_| false).unwrap()
        )
    );

    // Escalated: the boss may now decide for chen, and is told.
    let fired = store.fire_oa_timers(escalate_at, 100).await.unwrap();
    assert_eq!(fired.escalations, 1, "{fired:?}");
    assert!(kinds(&h, &boss).await.contains(&"oa.escalated".to_owned()));
    let inbox = get(&h, &boss, "/api/v1/oa/requests?view=inbox").await;
    assert_eq!(inbox.json["requests"][0]["id"], id, "{}", inbox.json);
    let reply = post(
        &h,
        &boss,
        &format!("/api/v1/oa/requests/{id}/approve"),
        json!({"comment": "go"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["state"], "approved");
    let trail = reply.json["trail"].as_array().unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e["action"] == "escalated" && e["comment"] == "boss.gm (for chen.mgr)"),
        "{trail:?}"
    );
    assert!(
        trail.iter().any(|e| e["action"] == "approved"
            && e["by"] == "boss.gm"
            && e["for_whom"] == "chen.mgr"),
        "{trail:?}"
    );
    // The request ended: its timers are gone, li hears of it.
    assert!(timers(&h, id).is_empty());
    assert_eq!(kinds(&h, &li).await, ["oa.approved"]);

    // A rejected request's reminders stop with it.
    let reply = post(&h, &li, "/api/v1/oa/requests", trip()).await;
    let second = reply.json["id"].as_i64().unwrap();
    assert_eq!(timers(&h, second).len(), 2);
    let reply = post(
        &h,
        &chen,
        &format!("/api/v1/oa/requests/{second}/reject"),
        json!({"comment": "budget is frozen"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert!(timers(&h, second).is_empty());
    let later = store
        .fire_oa_timers(Utc::now() + Duration::days(60), 100)
        .await
        .unwrap();
    assert_eq!(later.total(), 0, "{later:?}");
    // A request whose row does not read loses its timers, and stops no other from firing.
    let broken = post(&h, &li, "/api/v1/oa/requests", trip()).await.json["id"]
        .as_i64()
        .unwrap();
    let fine = post(&h, &li, "/api/v1/oa/requests", trip()).await.json["id"]
        .as_i64()
        .unwrap();
    h.sql(
        "UPDATE oa_requests SET body = 'not json' WHERE id = ?1",
        vec![SqlValue::Integer(broken)],
    );
    let fired = store
        .fire_oa_timers(Utc::now() + Duration::days(60), 100)
        .await
        .unwrap();
    assert_eq!(
        (fired.reminders, fired.escalations, fired.stale),
        (1, 1, 2),
        "{fired:?}"
    );
    assert!(timers(&h, broken).is_empty());
    assert_eq!(timers(&h, fine).len(), 1, "its next reminder");
    for id in [broken, fine] {
        h.sql(
            "DELETE FROM oa_requests WHERE id = ?1",
            vec![SqlValue::Integer(id)],
        );
        h.sql(
            "DELETE FROM oa_waiting WHERE request = ?1",
            vec![SqlValue::Integer(id)],
        );
        h.sql(
            "DELETE FROM oa_timers WHERE request = ?1",
            vec![SqlValue::Integer(id)],
        );
    }
    let li_told = get(&h, &li, "/api/v1/notifications?unread=true").await;
    assert_eq!(li_told.json["unread"], 2, "{}", li_told.json);
    assert!(
        li_told.json["notifications"][0]["text"]
            .as_str()
            .unwrap()
            .contains("rejected by chen.mgr: budget is frozen"),
        "{}",
        li_told.json
    );
    // Marked read, they leave the unread list; only one's own can be marked.
    let first_id = li_told.json["notifications"][0]["id"].as_i64().unwrap();
    let reply = post(
        &h,
        &chen,
        "/api/v1/notifications/read",
        json!({"ids": [first_id]}),
    )
    .await;
    assert_eq!(reply.json["read"], 0, "{}", reply.json);
    let reply = post(&h, &li, "/api/v1/notifications/read", json!({})).await;
    assert_eq!(reply.json["read"], 2, "{}", reply.json);
    let li_told = get(&h, &li, "/api/v1/notifications?unread=true").await;
    assert_eq!(li_told.json["unread"], 0);

    // Each notice has its webhook post in the outbox (administrators see it).
    let outbox = h
        .call(
            Method::GET,
            "/api/v1/notifications/outbox",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(outbox.status, StatusCode::OK, "{}", outbox.json);
    let rows = outbox.json["outbox"].as_array().unwrap();
    assert!(
        rows.iter().filter(|r| r["channel"] == "webhook").count() >= 6,
        "{rows:?}"
    );
    let reply = get(&h, &li, "/api/v1/notifications/outbox").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}
