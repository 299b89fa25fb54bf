//! Identifiers that cross the wire. Upstream mints UUID4 strings for requests,
//! jobs, workers, teams and shared keys; they are kept as opaque strings here
//! so that a client never fails on an id it did not expect. Users are the
//! exception: their ids are integers ([`UserId`]).

string_id!(
    /// The id of a request (upstream's "waiting prompt" or interrogation).
    RequestId
);
string_id!(
    /// The id of one job: one image, one text, or one interrogation form.
    JobId
);
string_id!(
    /// The id of a worker.
    WorkerId
);
string_id!(
    /// The id of a shared key; it is also accepted where an API key goes.
    SharedKeyId
);
string_id!(
    /// The id of a team of workers.
    TeamId
);

/// The numeric id of a user (`0` is the anonymous user).
pub type UserId = u64;
