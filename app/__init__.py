"""SMGW commissioning tool: the Qt-free core (domain, protocols, security, transports, flows)."""

__version__ = "0.1.0"
