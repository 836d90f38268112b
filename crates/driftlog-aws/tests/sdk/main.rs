//! The AWS source against real SDK clients: on moto (a real AWS-compatible server on
//! loopback) and against a scripted server for the faults moto cannot produce. One test
//! binary: each links the AWS SDK.

mod cloudcontrol;
mod data_services;
mod edge_services;
mod events;
mod faults;
mod moto;
