"""Typing Protocols the domain needs from the outside world (repositories, FHIR store, meetings...).

Each port arrives with the issue that first needs it; adapters implement them against AWS.
"""
