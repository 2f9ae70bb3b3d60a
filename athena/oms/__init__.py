"""Order and position management: OrderManager, PositionManager, stops, senders."""
