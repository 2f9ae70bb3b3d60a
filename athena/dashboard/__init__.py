"""The web dashboard (`athena dashboard`): positions, stops, orders, equity, fills, strategies, halt,
breakers and WebSockets, live, with the CLI's operator actions behind a login. See athena.dashboard.app."""
