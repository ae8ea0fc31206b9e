//! Container environment: explicit `env`, `valueFrom` references and Service links.
