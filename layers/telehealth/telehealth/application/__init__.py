"""Use cases: what a caller asks for, checked against the domain's rules, through the ports."""
