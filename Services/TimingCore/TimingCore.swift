// TimingCore: the pure core of the timing service (R10-R22).
//
// A state machine with no I/O, no clock and no randomness of its own: every
// input carries the server time `now`, and the one random input (the draw
// seed, R20) comes in from the shell as a parameter of `tick`. The shell
// (Services/Timing) owns the store, the bus and the clock:
//
//   1. on every request or followed event, first `state.tick(now:seed:)`
//      (fires whatever is due, in time order), then the operation with the
//      same `now`; operations refuse to run on a state with overdue timers
//      so that the event stream stays in time order;
//   2. persist what changed (`changes(since:)` names the documents), write the
//      returned events to the outbox in the same transaction, publish them
//      under `event.topic`;
//   3. arm a timer for `nextDeadline()` and call `tick` when it passes.
//
// Files: Model (state and records), Events, Errors, Draw (SplitMix64 and
// Fisher-Yates), Eligibility, Entry, Screening, Interview, Timers, Views.
