"""Inputs: the call's rules (TOML -> ``CallRules``), the canonical schema and its French error
reports, spreadsheet reading, démarches-simplifiées exports, Pabulib files. Imports nothing
above it (see docs/architecture.md)."""
