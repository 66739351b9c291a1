//! The pipeline page, `/crm/pipeline?owner=&q=&currency=`: the opportunities the user sees in columns
//! by stage (cards: customer, title, amount, close date, probability, owner), the weighted
//! forecast of the year ahead on top (per currency, or converted to `currency`). Rendered from the functions the API answers with:
//! [`crate::api::pipeline::opportunity_list`] and [`crate::api::pipeline::forecast`].
//!
//! A card dragged to another column (HTML5 drag and drop), or its stage chosen in the card's
//! select (phones cannot drag; keyboards can choose), is moved by the script with
//! `POST /api/v1/opportunities/{id}/stage` and the version the page showed, so a card someone
//! else moved meanwhile is refused (409) and said so, not silently overridden.

use super::{Ctx, T, ctx_shell, ctx_t, query_value};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::api::pipeline::{ForecastParams, OpportunityParams};
use crate::api::policy::{Principal, Routes, needs};
use crate::crm::pipeline::{Opportunity, Stage};
use crate::people::roles::Permission;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{Datelike, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub fn routes() -> Routes {
    Routes::new().get("/crm/pipeline", needs(Permission::CrmRead), page)
}

/// The catalogue key of a stage.
pub fn stage_key(stage: Stage) -> &'static str {
    match stage {
        Stage::Qualification => "stage_qualification",
        Stage::NeedsAnalysis => "stage_needs_analysis",
        Stage::Proposal => "stage_proposal",
        Stage::Negotiation => "stage_negotiation",
        Stage::Won => "stage_won",
        Stage::Lost => "stage_lost",
    }
}

/// `1234567.5` as `1,234,567.50`.
pub fn money(amount: Decimal) -> String {
    let text = crate::crm::pricing::round_money(amount).to_string();
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, cents) = text.split_once('.').unwrap_or((text, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{cents}")
}

pub struct Card {
    pub id: i64,
    pub version: i64,
    pub stage: &'static str,
    pub closed: bool,
    pub customer: String,
    pub title: String,
    pub amount: String,
    pub currency: String,
    pub probability: u8,
    pub close_date: String,
    pub overdue: bool,
    pub owner: String,
    pub lost_reason: String,
}

/// A sum in one currency: `CNY 12,000.00`.
pub struct Money {
    pub currency: String,
    pub amount: String,
    pub weighted: String,
}

pub struct Column {
    pub stage: &'static str,
    pub key: &'static str,
    pub probability: u8,
    pub cards: Vec<Card>,
    pub sums: Vec<Money>,
}

pub struct StageChoice {
    pub stage: &'static str,
    pub key: &'static str,
}

/// One currency's line of the forecast summary.
pub struct ForecastRow {
    pub currency: String,
    pub count: u64,
    pub amount: String,
    pub weighted: String,
    pub commit: String,
    pub best_case: String,
    pub closed: String,
}

pub struct Choice {
    pub value: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "crm_pipeline.html")]
struct Page {
    t: T,
    shell: super::Shell,
    columns: Vec<Column>,
    stages: Vec<StageChoice>,
    forecast: Vec<ForecastRow>,
    forecast_range: String,
    /// Why the forecast could not be converted (a missing exchange rate).
    forecast_problem: Option<String>,
    currencies: Vec<Choice>,
    owners: Vec<Choice>,
    q: String,
    can_write: bool,
    full: bool,
    full_text: String,
}

fn sums(cards: &[&Opportunity]) -> Vec<Money> {
    let mut by: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
    for o in cards {
        let e = by.entry(o.currency.as_str()).or_default();
        e.0 = e.0.checked_add(o.amount).unwrap_or(e.0);
        e.1 = e.1.checked_add(o.weighted).unwrap_or(e.1);
    }
    by.into_iter()
        .map(|(currency, (amount, weighted))| Money {
            currency: currency.to_owned(),
            amount: money(amount),
            weighted: money(weighted),
        })
        .collect()
}

async fn page(
    State(state): State<AppState>,
    p: Principal,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let ctx = Ctx::new(Some(&p), &uri, &headers, "/crm/pipeline");
    let owner = query_value(&uri, "owner").filter(|v| !v.trim().is_empty());
    let q = query_value(&uri, "q").filter(|v| !v.trim().is_empty());
    let currency = query_value(&uri, "currency").filter(|v| !v.trim().is_empty());
    let limit = crate::store::crm::MAX_LIST;
    let list = crate::api::pipeline::opportunity_list(
        &state,
        &p,
        OpportunityParams {
            search: q.clone(),
            owner: owner.clone(),
            limit: Some(limit),
            ..OpportunityParams::default()
        },
    )
    .await?;
    let today = Utc::now().date_naive();
    let from = today.with_day(1).unwrap_or(today);
    let to = from
        .checked_add_months(chrono::Months::new(12))
        .and_then(|d| d.pred_opt())
        .unwrap_or(from);
    // Converted to one currency when asked; a missing exchange rate is said on the page.
    let (forecast, forecast_problem) = match crate::api::pipeline::forecast(
        &state,
        &p,
        ForecastParams {
            from: Some(from),
            to: Some(to),
            owner: owner.clone(),
            currency: currency.clone(),
        },
    )
    .await
    {
        Ok(f) => (Some(f), None),
        Err(e) if e.status == StatusCode::CONFLICT => (None, Some(e.message)),
        Err(e) => return Err(e),
    };
    let forecast_rows = forecast
        .iter()
        .flat_map(|f| {
            let category = |currency: &str, key: &str| {
                f.by_category
                    .iter()
                    .find(|s| s.currency == currency && s.key == key)
                    .map_or_else(|| money(Decimal::ZERO), |s| money(s.weighted))
            };
            f.totals
                .iter()
                .map(|s| ForecastRow {
                    currency: s.currency.clone(),
                    count: s.count,
                    amount: money(s.amount),
                    weighted: money(s.weighted),
                    commit: category(&s.currency, "commit"),
                    best_case: category(&s.currency, "best_case"),
                    closed: category(&s.currency, "closed"),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut currencies: Vec<String> = list
        .opportunities
        .iter()
        .map(|o| o.currency.clone())
        .chain([crate::crm::customers::DEFAULT_CURRENCY.to_owned()])
        .chain(currency.clone())
        .collect();
    currencies.sort();
    currencies.dedup();
    let columns = Stage::ALL
        .iter()
        .map(|&stage| {
            let in_it: Vec<&Opportunity> = list
                .opportunities
                .iter()
                .filter(|o| o.stage == stage)
                .collect();
            Column {
                stage: stage.as_str(),
                key: stage_key(stage),
                probability: stage.default_probability(),
                sums: sums(&in_it),
                cards: in_it
                    .iter()
                    .map(|o| Card {
                        id: o.id,
                        version: o.version,
                        stage: o.stage.as_str(),
                        closed: o.stage.is_closed(),
                        customer: if o.customer_name.is_empty() {
                            o.customer.clone()
                        } else {
                            o.customer_name.clone()
                        },
                        title: o.title.clone(),
                        amount: money(o.amount),
                        currency: o.currency.clone(),
                        probability: o.probability,
                        close_date: o.close_date.to_string(),
                        overdue: o.close_date < today && !o.stage.is_closed(),
                        owner: o.owner.clone(),
                        lost_reason: o.lost_reason.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut owners: Vec<String> = list.opportunities.iter().map(|o| o.owner.clone()).collect();
    if let Some(o) = &owner {
        owners.push(o.clone());
    }
    owners.sort();
    owners.dedup();
    let page = Page {
        t: ctx_t(&ctx),
        shell: ctx_shell(&ctx),
        columns,
        stages: Stage::ALL
            .iter()
            .map(|&s| StageChoice {
                stage: s.as_str(),
                key: stage_key(s),
            })
            .collect(),
        forecast: forecast_rows,
        forecast_problem,
        currencies: currencies
            .into_iter()
            .map(|c| Choice {
                selected: currency.as_deref() == Some(c.as_str()),
                value: c,
            })
            .collect(),
        forecast_range: ctx
            .t
            .t("pipeline_forecast_range")
            .replace("{from}", &from.to_string())
            .replace("{to}", &to.to_string()),
        owners: owners
            .into_iter()
            .map(|o| Choice {
                selected: owner.as_deref() == Some(o.as_str()),
                value: o,
            })
            .collect(),
        q: q.unwrap_or_default(),
        can_write: p.can(Permission::CrmWrite),
        full: list.next.is_some(),
        full_text: ctx
            .t
            .t("pipeline_full")
            .replace("{n}", &list.opportunities.len().to_string()),
    };
    Ok(ctx.respond(StatusCode::OK, page.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_by_thousands() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("1234567.5")), "1,234,567.50");
        assert_eq!(money(d("999")), "999.00");
        assert_eq!(money(d("1000")), "1,000.00");
        assert_eq!(money(d("0.005")), "0.01");
        assert_eq!(money(d("-12000")), "-12,000.00");
    }
}
