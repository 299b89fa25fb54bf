//! The error body every horde endpoint answers with, `{"message", "rc"}`, and
//! [`Rc`], upstream's return codes with the HTTP status each one travels with.
//!
//! Upstream's own list of codes is incomplete (some even end in a dot), so an
//! unknown code parses as [`Rc::Unknown`] rather than failing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

string_enum! {
    /// A return code: the stable, machine-readable name of an error.
    ///
    /// The variants are upstream's codes (`KNOWN_RC` plus those its handlers
    /// raise outside that list); [`Rc::http_status`] gives the status code of
    /// the exception class upstream raises them with.
    pub enum Rc / Unknown {
        /// The prompt was empty.
        MissingPrompt => "MissingPrompt",
        /// The prompt was refused by the prompt filter.
        CorruptPrompt => "CorruptPrompt",
        /// A kudos operation was refused.
        KudosValidationError => "KudosValidationError",
        /// Nothing to do.
        NoValidActions => "NoValidActions",
        /// Width or height is not a multiple of 64 or out of range.
        InvalidSize => "InvalidSize",
        /// The prompt is too long.
        InvalidPromptSize => "InvalidPromptSize",
        /// More steps than allowed.
        TooManySteps => "TooManySteps",
        /// Profanity in a public text.
        Profanity => "Profanity",
        /// Profanity in a worker name.
        ProfaneWorkerName => "ProfaneWorkerName",
        /// Profanity in a bridge agent.
        ProfaneBridgeAgent => "ProfaneBridgeAgent",
        /// Profanity in worker info.
        ProfaneWorkerInfo => "ProfaneWorkerInfo",
        /// Profanity in a username.
        ProfaneUserName => "ProfaneUserName",
        /// Profanity in a user contact.
        ProfaneUserContact => "ProfaneUserContact",
        /// Profanity in an admin comment.
        ProfaneAdminComment => "ProfaneAdminComment",
        /// Profanity in a team name.
        ProfaneTeamName => "ProfaneTeamName",
        /// Profanity in team info.
        ProfaneTeamInfo => "ProfaneTeamInfo",
        /// A text is too long.
        TooLong => "TooLong",
        /// A worker name is too long.
        TooLongWorkerName => "TooLongWorkerName",
        /// A username is too long.
        TooLongUserName => "TooLongUserName",
        /// A name is already taken.
        NameAlreadyExists => "NameAlreadyExists",
        /// A worker name is already taken.
        WorkerNameAlreadyExists => "WorkerNameAlreadyExists",
        /// A team name is already taken.
        TeamNameAlreadyExists => "TeamNameAlreadyExists",
        /// A worker name is taken by a worker of another type.
        PolymorphicNameConflict => "PolymorphicNameConflict",
        /// A source image could not be validated.
        ImageValidationFailed => "ImageValidationFailed",
        /// A source image has too many pixels.
        SourceImageResolutionExceeded => "SourceImageResolutionExceeded",
        /// A source image is too large in bytes.
        SourceImageSizeExceeded => "SourceImageSizeExceeded",
        /// A source image URL is invalid.
        SourceImageUrlInvalid => "SourceImageUrlInvalid",
        /// A source image could not be read.
        SourceImageUnreadable => "SourceImageUnreadable",
        /// Inpainting without a mask or an alpha channel.
        InpaintingMissingMask => "InpaintingMissingMask",
        /// A mask was sent without a source image.
        SourceMaskUnnecessary => "SourceMaskUnnecessary",
        /// The sampler is not supported in this mode.
        UnsupportedSampler => "UnsupportedSampler",
        /// The model is not supported in this mode.
        UnsupportedModel => "UnsupportedModel",
        /// ControlNet is not supported for this request.
        ControlNetUnsupported => "ControlNetUnsupported",
        /// ControlNet needs a source image.
        ControlNetSourceMissing => "ControlNetSourceMissing",
        /// The ControlNet payload is invalid.
        ControlNetInvalidPayload => "ControlNetInvalidPayload",
        /// ControlNet cannot be combined with this request's other settings.
        ControlNetMismatch => "ControlNetMismatch",
        /// The model needs a source image.
        SourceImageRequiredForModel => "SourceImageRequiredForModel",
        /// A model name was not expected.
        UnexpectedModelName => "UnexpectedModelName",
        /// More than one upscaler was requested.
        TooManyUpscalers => "TooManyUpscalers",
        /// A generation id is not part of this request.
        ProcGenNotFound => "ProcGenNotFound",
        /// An aesthetic rating was refused.
        InvalidAestheticAttempt => "InvalidAestheticAttempt",
        /// The API key matches no user.
        InvalidAPIKey => "InvalidAPIKey",
        /// The key does not own this worker or job.
        WrongCredentials => "WrongCredentials",
        /// Admins only.
        NotAdmin => "NotAdmin",
        /// Moderators only.
        NotModerator => "NotModerator",
        /// Owners only.
        NotOwner => "NotOwner",
        /// Not privileged enough.
        NotPrivileged => "NotPrivileged",
        /// The anonymous user may not do this.
        AnonForbidden => "AnonForbidden",
        /// The anonymous user may not run workers.
        AnonForbiddenWorker => "AnonForbiddenWorker",
        /// The anonymous user may not be modified.
        AnonForbiddenUserMod => "AnonForbiddenUserMod",
        /// Trusted users only.
        NotTrusted => "NotTrusted",
        /// Only trusted users may create teams.
        UntrustedTeamCreation => "UntrustedTeamCreation",
        /// Untrusted users may not connect from an unsafe IP.
        UntrustedUnsafeIP => "UntrustedUnsafeIP",
        /// The worker is in maintenance.
        WorkerMaintenance => "WorkerMaintenance",
        /// The worker's owner is flagged.
        WorkerFlaggedMaintenance => "WorkerFlaggedMaintenance",
        /// Too many workers from one IP.
        TooManySameIPs => "TooManySameIPs",
        /// The horde only accepts invited workers.
        WorkerInviteOnly => "WorkerInviteOnly",
        /// The worker's IP is considered unsafe.
        UnsafeIP => "UnsafeIP",
        /// The IP is in timeout.
        TimeoutIP => "TimeoutIP",
        /// Too many new worker IPs to check at once.
        TooManyNewIPs => "TooManyNewIPs",
        /// The request needs kudos upfront which the user does not have.
        KudosUpfront => "KudosUpfront",
        /// The shared key has no kudos left.
        SharedKeyEmpty => "SharedKeyEmpty",
        /// The shared key has expired.
        SharedKeyExpired => "SharedKeyExpired",
        /// The shared key has fewer kudos left than the request needs.
        SharedKeyInsufficientKudos => "SharedKeyInsufficientKudos",
        /// A job id is unknown.
        InvalidJobID => "InvalidJobID",
        /// A request id is unknown (or the request expired).
        RequestNotFound => "RequestNotFound",
        /// A worker id is unknown.
        WorkerNotFound => "WorkerNotFound",
        /// A team id is unknown.
        TeamNotFound => "TeamNotFound",
        /// A filter id is unknown.
        FilterNotFound => "FilterNotFound",
        /// A user is unknown.
        UserNotFound => "UserNotFound",
        /// A style is unknown.
        StyleNotFound => "StyleNotFound",
        /// A job was already submitted.
        DuplicateGen => "DuplicateGen",
        /// A job was submitted after it timed out.
        AbortedGen => "AbortedGen",
        /// The request has expired.
        RequestExpired => "RequestExpired",
        /// The user has too many requests in flight.
        TooManyPrompts => "TooManyPrompts",
        /// No worker can serve this request.
        NoValidWorkers => "NoValidWorkers",
        /// The horde is in maintenance.
        MaintenanceMode => "MaintenanceMode",
        /// The target account of a transfer is flagged.
        TargetAccountFlagged => "TargetAccountFlagged",
        /// The source account of a transfer is flagged.
        SourceAccountFlagged => "SourceAccountFlagged",
        /// The target account could not receive kudos.
        FaultWhenKudosReceiving => "FaultWhenKudosReceiving",
        /// The source account could not send kudos.
        FaultWhenKudosSending => "FaultWhenKudosSending",
        /// Transfers back and forth too fast.
        TooFastKudosTransfers => "TooFastKudosTransfers",
        /// Kudos cannot be sent to the anonymous user.
        KudosTransferToAnon => "KudosTransferToAnon",
        /// Kudos cannot be sent to oneself.
        KudosTransferToSelf => "KudosTransferToSelf",
        /// Not enough kudos to transfer.
        KudosTransferNotEnough => "KudosTransferNotEnough",
        /// A transfer amount below zero.
        NegativeKudosTransfer => "NegativeKudosTransfer",
        /// The anonymous user cannot send kudos.
        KudosTransferFromAnon => "KudosTransferFromAnon",
        /// A transfer amount that is not a positive integer.
        InvalidKudosTransferAmount => "InvalidKudosTransferAmount",
        /// Education accounts cannot send kudos.
        EducationCannotSendKudos => "EducationCannotSendKudos",
        /// The transfer target does not exist.
        InvalidTargetUsername => "InvalidTargetUsername",
        /// An idempotency key was reused with a different body.
        IdempotencyKeyConflict => "IdempotencyKeyConflict",
        /// The award target does not exist.
        InvalidAwardUsername => "InvalidAwardUsername",
        /// Kudos cannot be awarded to the anonymous user.
        KudosAwardToAnon => "KudosAwardToAnon",
        /// This user may not award kudos.
        NotAllowedAwards => "NotAllowedAwards",
        /// A worker PUT changed nothing.
        NoWorkerModSelected => "NoWorkerModSelected",
        /// A user PUT changed nothing.
        NoUserModSelected => "NoUserModSelected",
        /// A modes PUT changed nothing.
        NoHordeModSelected => "NoHordeModSelected",
        /// A team PATCH changed nothing.
        NoTeamModSelected => "NoTeamModSelected",
        /// A filter PATCH changed nothing.
        NoFilterModSelected => "NoFilterModSelected",
        /// A shared key PATCH changed nothing.
        NoSharedKeyModSelected => "NoSharedKeyModSelected",
        /// A generic bad request (also used for schema validation failures).
        BadRequest => "BadRequest",
        /// A generic forbidden action.
        Forbidden => "Forbidden",
        /// The object is still referenced and cannot be removed yet.
        Locked => "Locked",
        /// hires_fix cannot be combined with this request's other settings.
        HiResFixMismatch => "HiResFixMismatch",
        /// More LoRAs than allowed.
        TooManyLoras => "TooManyLoras",
        /// A LoRA version id that is not numeric.
        BadLoraVersion => "BadLoraVersion",
        /// More textual inversions than allowed.
        TooManyTIs => "TooManyTIs",
        /// The anonymous user may not use beta features.
        BetaAnonForbidden => "BetaAnonForbidden",
        /// A beta comparison failed.
        BetaComparisonFault => "BetaComparisonFault",
        /// cfg_scale has more than two decimals.
        BadCFGDecimals => "BadCFGDecimals",
        /// cfg_scale is not a number.
        BadCFGNumber => "BadCFGNumber",
        /// The Client-Agent header is malformed.
        BadClientAgent => "BadClientAgent",
        /// This client agent is banned.
        BannedClientAgent => "BannedClientAgent",
        /// A special request without its payload.
        SpecialMissingPayload => "SpecialMissingPayload",
        /// Special payloads are forbidden for this user.
        SpecialForbidden => "SpecialForbidden",
        /// A special request without a username.
        SpecialMissingUsername => "SpecialMissingUsername",
        /// A special model needs a special user.
        SpecialModelNeedsSpecialUser => "SpecialModelNeedsSpecialUser",
        /// A special field needs a special user.
        SpecialFieldNeedsSpecialUser => "SpecialFieldNeedsSpecialUser",
        /// A NUL byte in a string of the payload.
        NulByteInPayload => "NulByteInPayload",
        /// max_length is larger than max_context_length.
        TokenOverflow => "TokenOverflow",
        /// sampler_order lists too few samplers.
        MissingFullSamplerOrder => "MissingFullSamplerOrder",
        /// More stop sequences than allowed.
        TooManyStopSequences => "TooManyStopSequences",
        /// The stop sequences are too long in total.
        ExcessiveStopSequence => "ExcessiveStopSequence",
        /// Extra source images where they are not allowed (upstream's code ends in a dot).
        InvalidExtraSourceImages => "InvalidExtraSourceImages.",
        /// A priority username that is not `alias#id`.
        InvalidPriorityUsername => "InvalidPriorityUsername",
        /// The (untrusted) owner already has as many workers as allowed.
        TooManyWorkers => "TooManyWorkers",
        /// The trusted owner already has as many workers as allowed.
        TooManyWorkersTrusted => "TooManyWorkersTrusted",
        /// The account is deleted.
        DeletedUser => "DeletedUser",
        /// Only service accounts may proxy for another account.
        OnlyServiceAccountProxy => "OnlyServiceAccountProxy",
        /// This option needs a trusted account.
        RequiresTrust => "RequiresTrust",
        /// ControlNet cannot be combined with inpainting.
        ControlNetInpaintingMismatch => "ControlNetInpaintingMismatch",
        /// Remix is only available for Stable Cascade models.
        InvalidRemix => "InvalidRemix",
        /// More than five extra source images (upstream's code ends in a dot).
        TooManyExtraSourceImages => "TooManyExtraSourceImages.",
        /// The shared key cannot be used on this endpoint.
        SharedKeyForbidden => "SharedKeyForbidden",
        /// The user already has as many shared keys as allowed.
        TooManySharedKeys => "TooManySharedKeys",
    }
}

impl Rc {
    /// The HTTP status upstream answers this code with (its exception class).
    /// Unknown codes map to 400.
    pub fn http_status(&self) -> u16 {
        use Rc::*;
        match self {
            InvalidAPIKey => 401,
            WrongCredentials
            | NotAdmin
            | NotModerator
            | NotOwner
            | NotPrivileged
            | AnonForbidden
            | AnonForbiddenWorker
            | AnonForbiddenUserMod
            | NotTrusted
            | UntrustedTeamCreation
            | UntrustedUnsafeIP
            | WorkerMaintenance
            | WorkerFlaggedMaintenance
            | TooManySameIPs
            | WorkerInviteOnly
            | UnsafeIP
            | TimeoutIP
            | TooManyNewIPs
            | KudosUpfront
            | SharedKeyEmpty
            | SharedKeyExpired
            | SharedKeyInsufficientKudos
            | Forbidden
            | BetaAnonForbidden
            | SpecialForbidden
            | BannedClientAgent
            | DeletedUser
            | NotAllowedAwards
            | OnlyServiceAccountProxy
            | RequiresTrust
            | TooManyWorkers
            | TooManyWorkersTrusted
            | SharedKeyForbidden
            | TooManySharedKeys => 403,
            InvalidJobID | RequestNotFound | WorkerNotFound | TeamNotFound | FilterNotFound
            | UserNotFound | StyleNotFound => 404,
            IdempotencyKeyConflict => 409,
            RequestExpired => 410,
            Locked => 423,
            TooManyPrompts => 429,
            _ => 400,
        }
    }
}

/// The body of every error answer: `{"message": ..., "rc": ...}`.
///
/// Upstream's schema-validation failures carry `errors` (field → reason) and,
/// there only, no `rc`; hence `rc` is optional when parsing. Our coordinator
/// always sends one (clients such as the official Python SDK require it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A human-readable explanation.
    pub message: String,
    /// The return code, when the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc: Option<Rc>,
    /// Per-field reasons of a schema validation failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
}

impl ErrorBody {
    /// An error body with a return code and a message.
    pub fn new(rc: Rc, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            rc: Some(rc),
            errors: None,
        }
    }

    /// The HTTP status this body should travel with (400 when there is no rc).
    pub fn http_status(&self) -> u16 {
        self.rc.as_ref().map_or(400, Rc::http_status)
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rc {
            Some(rc) => write!(f, "{rc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ErrorBody {}
