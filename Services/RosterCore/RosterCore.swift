// RosterCore: the pure core of the roster service (R1-R6).
//
// Who may sit the interview and who confirmed: the qualified-candidate list
// (R1), the candidates' accounts (R2), the confirmation window with the ID
// card photo and its identity check (R3, R4), the automatic forfeits at the
// window's end (R5) and keeping declined / forfeited candidates out (R6).
//
// A state machine with no I/O, no clock and no randomness of its own: every
// input carries the server time `now`; random salts and session tokens come in
// from the shell (the core sees only the token's digest); the slow password
// hash is a `PasswordHashing` the shell implements with swift-crypto; a
// photo's SHA-256 is computed by the shell. The shell (Services/Roster):
//
//   1. on every request or followed event, first `state.tick(now:)` (fires
//      the window's end if it passed, also after downtime), then the
//      operation with the same `now`;
//   2. persists what changed: every event names its document
//      (`event.document`: a candidate by exam number, a post by post code,
//      or the meta document holding the plan and the window's closing) and
//      writes the events to its outbox in the same transaction, published
//      under `event.topic`;
//   3. arms a timer for `nextDeadline()`.
//
// Every operation validates first and throws `RosterError` before changing
// anything; a throwing call leaves the state as it was. The one exception in
// spirit is a wrong password: counting it is a change (R2), so login and
// password change return it as a `.wrongPassword` outcome with its events
// instead of throwing.
//
// Files: Errors, Config, Model (records), Events, State (storage, indices,
// persistence), Import (R1, CSV), Accounts (R2), Confirmation (R3-R6),
// PhotoInspector (R4), Queries.
