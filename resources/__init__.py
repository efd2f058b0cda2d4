"""Data files shipped with the tool: XSD schemas, translations, icons, demo scenarios."""
