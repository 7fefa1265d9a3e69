//! otpgate's integration tests, one binary: each file of `tests/integration/` is a module of it
//! (one link of the crate and Leptos instead of one per file), and `common` is the harness
//! they share. Every test goes through `otpgate::router` or the real binary, on SQLite or, with
//! `scripts/with-postgres`, on PostgreSQL (`common/database.rs`).

mod common;

mod admin;
mod admin_api;
mod admin_deliveries;
mod admin_destinations;
mod admin_stats;
mod admin_tenants;
mod admin_verifications;
mod audit;
mod cli;
mod concurrency;
mod crash;
mod delivery;
mod doors;
mod fallback;
mod gateway;
mod http_errors;
mod instances;
mod languages;
mod leaks;
mod limits;
mod logs;
mod outage;
mod pages;
mod progressive;
mod prometheus;
mod properties;
mod readiness;
mod single_sms;
mod smoke;
mod smtp;
mod templates;
mod trace_leaks;
mod twilio;
mod webhook_instances;
mod webhooks;
mod widget;
