"""Functions on the egress path: the only ones that may reach outside the VPC's endpoints."""
