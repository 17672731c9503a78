package dlitest

// seedDemo loads the "demo" data set: each resource area seeds its own part
// (queues first, since jobs run on them). Caller holds e.mu.
func (e *Emulator) seedDemo() {
	e.queues.seed(e)
	e.sql.seed(e)
	e.flink.seed(e)
	e.spark.seed(e)
}
