"""The reference Gateway Administrator (GWA) of the embedded default."""
