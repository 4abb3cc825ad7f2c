"""AWS implementations of the ports. Endpoints come from configuration (``AWS_ENDPOINT_URL*``),
so the same code talks to AWS in a stack and to the emulator locally."""
