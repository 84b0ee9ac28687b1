"""Majlis common library: settings, logging, data layer, crypto, bus and HTTP pieces."""
