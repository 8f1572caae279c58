"""Helpers shared by the tests (never collected as tests): factories, a fake Billbee for
the client's own tests, the sandbox and worker harnesses, the browser set-up."""
