//! Nexora (placeholder; being built).
