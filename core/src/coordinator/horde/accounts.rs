//! Accounts: creating users and rotating their keys (operator actions),
//! user views and modification, shared keys, and kudos transfers.

use super::{Caller, Horde};
use crate::api::{
    KudosTransferRequest, ModifyUserRequest, ModifyUserResponse, Rc, SharedKeyDetails,
    SharedKeyInput, UserDetails, UserRecords, UserSort,
};
use crate::coordinator::error::ApiError;
use crate::coordinator::keys;
use crate::coordinator::model::{Roles, SharedKey, User};
use crate::coordinator::store::Table;
use crate::kudos::{self, available_kudos};

/// What an operator creates a user with.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    /// The alias (the public name is `alias#id`).
    pub alias: String,
    /// Starting balance.
    pub kudos: f64,
    /// Trusted role.
    pub trusted: bool,
    /// Moderator role.
    pub moderator: bool,
    /// Admin role.
    pub admin: bool,
}

/// Users per page of `GET /v2/users`.
pub const USERS_PER_PAGE: usize = 25;
/// Most shared keys an untrusted user may own.
pub const MAX_SHARED_KEYS: usize = 3;
/// Most shared keys a trusted user may own.
pub const MAX_SHARED_KEYS_TRUSTED: usize = 10;
/// Seconds during which a transfer back to one's sender is refused.
pub const REVERSE_TRANSFER_SECS: f64 = 60.0;
/// Seconds an idempotency key is remembered.
pub const IDEMPOTENCY_SECS: f64 = 24.0 * 3600.0;

fn out_of_ledger_bounds(field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field} must be a finite number and leave every balance within ±{:.0} kudos; nothing was changed.",
        kudos::MAX_LEDGER_KUDOS
    ))
}

fn validate_alias(alias: &str) -> Result<(), ApiError> {
    let len = alias.chars().count();
    if len == 0 || len > 30 {
        return Err(ApiError::new(
            Rc::TooLongUserName,
            "A username must be 1 to 30 characters.",
        ));
    }
    if alias.contains('#') || alias.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "A username may not contain '#' or control characters.",
        ));
    }
    Ok(())
}

impl Horde {
    /// Creates a user and returns it with its new API key (shown once).
    pub fn create_user(&mut self, new: NewUser) -> Result<(UserDetails, String), ApiError> {
        validate_alias(&new.alias)?;
        if !kudos::is_ledger_amount(new.kudos) {
            return Err(out_of_ledger_bounds("kudos"));
        }
        let key = keys::new_api_key();
        let id = self.next_user_id;
        let created = self.now();
        let mut user = User::new(
            id,
            new.alias,
            self.key_hash(&key),
            self.settings.default_concurrency,
            created,
        );
        user.kudos = new.kudos;
        user.kudos_details.admin = new.kudos;
        user.roles = Roles {
            admin: new.admin,
            moderator: new.moderator || new.admin,
            trusted: new.trusted || new.moderator || new.admin,
            ..Default::default()
        };
        self.insert_user(user);
        self.mark(Table::Users, id.to_string());
        Ok((self.user_view(id, 2)?, key))
    }

    /// Whether a user is an admin.
    pub fn is_admin(&self, user_id: u64) -> bool {
        self.users.get(&user_id).is_some_and(|u| u.roles.admin)
    }

    /// Finds a user by `alias#id`, by id, or by alias when it is unique.
    pub fn find_user_by_name(&self, name: &str) -> Option<u64> {
        if let Some((_, id)) = name.rsplit_once('#') {
            return id.parse().ok().filter(|id| self.users.contains_key(id));
        }
        if let Ok(id) = name.parse::<u64>() {
            return self.users.contains_key(&id).then_some(id);
        }
        let mut found = self.users.values().filter(|u| u.alias == name);
        match (found.next(), found.next()) {
            (Some(u), None) => Some(u.id),
            _ => None,
        }
    }

    /// Gives a user a new API key; the old one stops working at once.
    pub fn rotate_key(&mut self, user_id: u64) -> Result<String, ApiError> {
        let key = keys::new_api_key();
        let hash = self.key_hash(&key);
        let user = self.user_mut(user_id)?;
        let old = std::mem::replace(&mut user.key_hash, hash.clone());
        self.users_by_hash.remove(&old);
        self.users_by_hash.insert(hash, user_id);
        self.mark(Table::Users, user_id.to_string());
        Ok(key)
    }

    /// Sets a user's roles and balance as an operator (CLI).
    pub fn operator_update(
        &mut self,
        user_id: u64,
        edit: impl FnOnce(&mut User),
    ) -> Result<(), ApiError> {
        let user = self.user_mut(user_id)?;
        edit(user);
        self.mark(Table::Users, user_id.to_string());
        Ok(())
    }

    /// A user as seen with a privilege: 0 public, 1 self, 2 moderator.
    pub fn user_view(&self, user_id: u64, privilege: u8) -> Result<UserDetails, ApiError> {
        let u = self.user(user_id)?;
        let workers: Vec<_> = self
            .workers
            .values()
            .filter(|w| w.owner == user_id)
            .map(|w| crate::api::WorkerId(w.id.clone()))
            .collect();
        let mut view = UserDetails {
            username: u.username(),
            id: u.id,
            kudos: kudos::round2(u.kudos),
            kudos_details: Some(u.kudos_details.clone()),
            concurrency: Some(u.concurrency),
            worker_invited: Some(u.worker_invited),
            moderator: Some(u.is_moderator()),
            trusted: Some(u.is_trusted()),
            service: Some(u.roles.service),
            education: Some(u.roles.education),
            customizer: Some(u.roles.customizer),
            deleted: Some(u.roles.deleted),
            pseudonymous: Some(false),
            account_age: Some((self.now() - u.created).max(0.0) as u64),
            worker_count: Some(workers.len() as u32),
            flagged: Some(u.roles.flagged),
            records: Some(UserRecords {
                usage: u.usage.clone(),
                contribution: u.contribution.clone(),
                fulfillment: u.fulfillment.clone(),
                request: u.requested.clone(),
                style: Default::default(),
            }),
            // This horde has no styles yet; upstream always sends the list.
            styles: Some(Vec::new()),
            // Obsolete summaries upstream still sends, members `null`.
            usage: Some(Default::default()),
            contributions: Some(Default::default()),
            ..Default::default()
        };
        if u.public_workers || privilege >= 1 {
            view.worker_ids = Some(workers);
        }
        if privilege >= 1 {
            view.sharedkey_ids = Some(
                self.shared_keys
                    .values()
                    .filter(|k| k.user_id == user_id)
                    .map(|k| crate::api::SharedKeyId(k.id.clone()))
                    .collect(),
            );
            view.contact = u.contact.clone();
            view.vpn = Some(u.roles.vpn);
            view.special = Some(u.roles.special);
            view.active_generations = self.active_generations(user_id);
        }
        if privilege >= 2 {
            view.evaluating_kudos = Some(kudos::round2(u.evaluating_kudos));
            view.suspicious = Some(u.suspicion);
            view.admin_comment = u.admin_comment.clone();
            view.monthly_kudos = Some(crate::api::MonthlyKudos {
                amount: Some(u.monthly_kudos),
                last_received: None,
            });
        }
        Ok(view)
    }

    /// The user's requests not yet done, by kind, as upstream lists them
    /// to the user and moderators (`None` when there are none).
    fn active_generations(&self, user_id: u64) -> Option<serde_json::Value> {
        let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        let live = self
            .live_requests
            .iter()
            .filter_map(|id| self.requests.get(id));
        for r in live.filter(|r| r.user_id == user_id) {
            let kind = match r.kind() {
                crate::api::WorkerType::Text => "text",
                _ => "image",
            };
            by_kind.entry(kind).or_default().push(&r.id);
        }
        let live = self
            .live_interrogations
            .iter()
            .filter_map(|id| self.interrogations.get(id));
        for i in live.filter(|i| i.user_id == user_id) {
            by_kind.entry("alchemy").or_default().push(&i.id);
        }
        (!by_kind.is_empty()).then(|| serde_json::json!(by_kind))
    }

    /// `GET /v2/find_user`: the caller's own view (a shared key sees the
    /// owner's public view, marked with the key's name).
    pub fn find_user(&self, caller: &Caller) -> Result<UserDetails, ApiError> {
        match caller {
            Caller::User(id) => self.user_view(*id, 1),
            Caller::Shared { user, key } => {
                let mut view = self.user_view(*user, 0)?;
                let suffix = match self.shared_keys.get(key).and_then(|k| k.name.as_deref()) {
                    Some(name) => format!(" (Shared Key: {name})"),
                    None => " (Shared Key)".to_owned(),
                };
                view.username.push_str(&suffix);
                Ok(view)
            }
        }
    }

    /// The privilege `caller` has over `user_id`'s record.
    pub fn privilege(&self, caller: Option<&Caller>, user_id: u64) -> u8 {
        match caller {
            Some(Caller::User(id)) if self.users.get(id).is_some_and(User::is_moderator) => 2,
            Some(Caller::User(id)) if *id == user_id => 1,
            _ => 0,
        }
    }

    /// `GET /v2/users`: a page of users.
    pub fn list_users(&self, page: u32, sort: &UserSort) -> Vec<UserDetails> {
        let mut users: Vec<&User> = self.users.values().filter(|u| !u.roles.deleted).collect();
        match sort {
            UserSort::Age => {
                users.sort_by(|a, b| a.created.total_cmp(&b.created).then(a.id.cmp(&b.id)))
            }
            _ => users.sort_by(|a, b| b.kudos.total_cmp(&a.kudos).then(a.id.cmp(&b.id))),
        }
        let start = (page.max(1) as usize - 1) * USERS_PER_PAGE;
        users
            .iter()
            .skip(start)
            .take(USERS_PER_PAGE)
            .filter_map(|u| self.user_view(u.id, 0).ok())
            .collect()
    }

    /// `PUT /v2/users/{id}`.
    pub fn modify_user(
        &mut self,
        caller: &Caller,
        target: u64,
        m: &ModifyUserRequest,
    ) -> Result<ModifyUserResponse, ApiError> {
        let actor = self.user(caller.user_id())?;
        let (is_admin, is_mod, is_owner) =
            (actor.roles.admin, actor.is_moderator(), actor.id == target);
        self.user(target)?;
        if target == crate::coordinator::model::ANONYMOUS_ID && !is_admin {
            return Err(ApiError::new(
                Rc::AnonForbiddenUserMod,
                "The anonymous user cannot be modified.",
            ));
        }
        let admin_only = m.kudos.is_some()
            || m.monthly_kudos.is_some()
            || m.usage_multiplier.is_some()
            || m.moderator.is_some();
        let mod_only = m.concurrency.is_some()
            || m.worker_invited.is_some()
            || m.trusted.is_some()
            || m.flagged.is_some()
            || m.customizer.is_some()
            || m.vpn.is_some()
            || m.service.is_some()
            || m.education.is_some()
            || m.special.is_some()
            || m.filtered.is_some()
            || m.reset_suspicion.is_some()
            || m.admin_comment.is_some();
        let owner_or_mod = m.public_workers.is_some()
            || m.username.is_some()
            || m.contact.is_some()
            || m.undelete.is_some();
        if admin_only && !is_admin {
            return Err(ApiError::new(
                Rc::NotAdmin,
                "Only admins may change these fields.",
            ));
        }
        if mod_only && !is_mod {
            return Err(ApiError::new(
                Rc::NotModerator,
                "Only moderators may change these fields.",
            ));
        }
        if owner_or_mod && !(is_owner || is_mod) {
            return Err(ApiError::new(
                Rc::NotOwner,
                "Only the owner or a moderator may change these fields.",
            ));
        }
        if !(admin_only || mod_only || owner_or_mod) {
            return Err(ApiError::new(
                Rc::NoUserModSelected,
                "No valid modification selected!",
            ));
        }
        if let Some(c) = m.concurrency
            && c > 500
        {
            return Err(ApiError::bad_request(
                "concurrency must be between 0 and 500",
            ));
        }
        if let Some(mult) = m.usage_multiplier
            && !(0.1..=10.0).contains(&mult)
        {
            return Err(ApiError::bad_request(
                "usage_multiplier must be between 0.1 and 10",
            ));
        }
        if let Some(name) = &m.username {
            validate_alias(name)?;
        }
        for (field, text) in [("contact", &m.contact), ("admin_comment", &m.admin_comment)] {
            if let Some(t) = text
                && !(5..=500).contains(&t.chars().count())
            {
                return Err(ApiError::bad_request(format!(
                    "{field} must be 5 to 500 characters"
                )));
            }
        }
        let user = self.user_mut(target)?;
        let mut out = ModifyUserResponse::default();
        if let Some(k) = m.kudos {
            let (balance, admin) = (user.kudos + k, user.kudos_details.admin + k);
            if !kudos::is_ledger_amount(k)
                || !kudos::is_ledger_amount(balance)
                || !kudos::is_ledger_amount(admin)
            {
                return Err(out_of_ledger_bounds("kudos"));
            }
            user.move_kudos(k);
            user.kudos_details.admin = admin;
            out.new_kudos = Some(kudos::round2(user.kudos));
        }
        macro_rules! set {
            ($field:ident => $target:expr) => {
                if let Some(v) = &m.$field {
                    $target = v.clone();
                    out.$field = Some(v.clone());
                }
            };
        }
        set!(concurrency => user.concurrency);
        set!(usage_multiplier => user.usage_multiplier);
        set!(worker_invited => user.worker_invited);
        set!(moderator => user.roles.moderator);
        set!(public_workers => user.public_workers);
        set!(monthly_kudos => user.monthly_kudos);
        set!(trusted => user.roles.trusted);
        set!(flagged => user.roles.flagged);
        set!(customizer => user.roles.customizer);
        set!(vpn => user.roles.vpn);
        set!(service => user.roles.service);
        set!(education => user.roles.education);
        set!(special => user.roles.special);
        if let Some(c) = &m.contact {
            user.contact = Some(c.clone());
            out.contact = Some(c.clone());
        }
        if let Some(c) = &m.admin_comment {
            user.admin_comment = Some(c.clone());
            out.admin_comment = Some(c.clone());
        }
        if let Some(name) = &m.username {
            user.alias = name.clone();
            out.username = Some(user.username());
        }
        if m.reset_suspicion == Some(true) {
            user.suspicion = 0;
            out.new_suspicion = Some(0);
        }
        if m.undelete == Some(true) {
            user.roles.deleted = false;
            out.undeleted = Some(true);
        }
        self.mark(Table::Users, target.to_string());
        Ok(out)
    }

    /// `PUT /v2/sharedkeys`: creates a shared key for the caller.
    pub fn create_shared_key(
        &mut self,
        caller: &Caller,
        input: &SharedKeyInput,
    ) -> Result<SharedKeyDetails, ApiError> {
        let user = self.user(caller.user_id())?;
        if user.is_anonymous() {
            return Err(ApiError::new(
                Rc::AnonForbidden,
                "The anonymous user cannot own shared keys.",
            ));
        }
        let limit = if user.roles.education {
            1000
        } else if user.is_trusted() {
            MAX_SHARED_KEYS_TRUSTED
        } else {
            MAX_SHARED_KEYS
        };
        let owned = self
            .shared_keys
            .values()
            .filter(|k| k.user_id == user.id)
            .count();
        if owned >= limit {
            return Err(ApiError::new(
                Rc::TooManySharedKeys,
                format!("You cannot have more than {limit} shared keys."),
            ));
        }
        validate_shared_key_input(input)?;
        let now = self.now();
        let key = SharedKey {
            id: Horde::new_id(),
            user_id: user.id,
            name: input.name.clone(),
            kudos: input.kudos.unwrap_or(5000),
            expiry: input
                .expiry
                .filter(|d| *d >= 0)
                .map(|days| now + days as f64 * 86400.0),
            utilized: 0.0,
            max_image_pixels: input.max_image_pixels.unwrap_or(-1),
            max_image_steps: input.max_image_steps.unwrap_or(-1),
            max_text_tokens: input.max_text_tokens.unwrap_or(-1),
        };
        let id = key.id.clone();
        self.shared_keys.insert(id.clone(), key);
        self.mark(Table::SharedKeys, id.clone());
        self.shared_key_view(&id)
    }

    /// `GET /v2/sharedkeys/{id}` (public).
    pub fn shared_key_view(&self, id: &str) -> Result<SharedKeyDetails, ApiError> {
        let k = self
            .shared_keys
            .get(id)
            .ok_or_else(|| ApiError::new(Rc::InvalidAPIKey, "No user matching sent Shared Key."))?;
        Ok(SharedKeyDetails {
            id: crate::api::SharedKeyId(k.id.clone()),
            username: self
                .users
                .get(&k.user_id)
                .map(User::username)
                .unwrap_or_default(),
            name: k.name.clone(),
            kudos: k.kudos,
            expiry: k.expiry.map(super::stats::rfc822),
            utilized: k.utilized.round() as i64,
            max_image_pixels: k.max_image_pixels,
            max_image_steps: k.max_image_steps,
            max_text_tokens: k.max_text_tokens,
        })
    }

    fn owned_shared_key(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let key = self
            .shared_keys
            .get(id)
            .ok_or_else(|| ApiError::new(Rc::InvalidAPIKey, "No user matching sent Shared Key."))?;
        let actor = self.user(caller.user_id())?;
        if key.user_id != actor.id && !actor.is_moderator() {
            return Err(ApiError::new(
                Rc::NotOwner,
                "Only the owner may change this shared key.",
            ));
        }
        Ok(())
    }

    /// `PATCH /v2/sharedkeys/{id}`.
    pub fn modify_shared_key(
        &mut self,
        caller: &Caller,
        id: &str,
        input: &SharedKeyInput,
    ) -> Result<SharedKeyDetails, ApiError> {
        self.owned_shared_key(caller, id)?;
        if input == &SharedKeyInput::default() {
            return Err(ApiError::new(
                Rc::NoSharedKeyModSelected,
                "No shared key modification selected!",
            ));
        }
        validate_shared_key_input(input)?;
        let now = self.now();
        if let Some(key) = self.shared_keys.get_mut(id) {
            if let Some(k) = input.kudos {
                key.kudos = k;
            }
            if let Some(days) = input.expiry {
                key.expiry = (days >= 0).then_some(now + days as f64 * 86400.0);
            }
            if let Some(name) = &input.name {
                key.name = Some(name.clone());
            }
            if let Some(v) = input.max_image_pixels {
                key.max_image_pixels = v;
            }
            if let Some(v) = input.max_image_steps {
                key.max_image_steps = v;
            }
            if let Some(v) = input.max_text_tokens {
                key.max_text_tokens = v;
            }
        }
        self.mark(Table::SharedKeys, id.to_owned());
        self.shared_key_view(id)
    }

    /// `DELETE /v2/sharedkeys/{id}`.
    pub fn delete_shared_key(&mut self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        self.owned_shared_key(caller, id)?;
        self.shared_keys.remove(id);
        self.mark(Table::SharedKeys, id.to_owned());
        Ok(())
    }

    /// `POST /v2/kudos/transfer`.
    pub fn transfer(
        &mut self,
        caller: &Caller,
        req: &KudosTransferRequest,
        idempotency_key: Option<&str>,
    ) -> Result<f64, ApiError> {
        let now = self.now();
        // Upstream reads the amount as an int: 1.5 sends 1, 0.9 sends 0.
        let amount = req.amount().trunc();
        let source = self.user(caller.user_id())?;
        if let Some(key) = idempotency_key
            && let Some((_, prev_amount, prev_target, _)) = source
                .idempotency
                .iter()
                .find(|(k, _, _, at)| k == key && now - at < IDEMPOTENCY_SECS)
        {
            if *prev_amount as f64 == amount && *prev_target == req.username {
                return Ok(amount);
            }
            return Err(ApiError::new(
                Rc::IdempotencyKeyConflict,
                "This Idempotency-Key was used for a different transfer.",
            ));
        }
        if amount < 0.0 {
            return Err(ApiError::new(
                Rc::NegativeKudosTransfer,
                "Cannot send negative kudos.",
            ));
        }
        if amount == 0.0 || !amount.is_finite() || amount > 1e12 {
            return Err(ApiError::new(
                Rc::InvalidKudosTransferAmount,
                "The amount must be a positive integer.",
            ));
        }
        let amount = amount as i64;
        if source.is_anonymous() {
            return Err(ApiError::new(
                Rc::KudosTransferFromAnon,
                "The anonymous user cannot send kudos.",
            ));
        }
        if source.roles.flagged || source.suspicion >= 5 || source.roles.deleted {
            return Err(ApiError::new(
                Rc::SourceAccountFlagged,
                "Your account cannot send kudos.",
            ));
        }
        if source.roles.education {
            return Err(ApiError::new(
                Rc::EducationCannotSendKudos,
                "Education accounts cannot send kudos.",
            ));
        }
        let source_id = source.id;
        // The recipient: a shared key (credits its owner) or a user.
        let (target_id, shared) = match self.shared_keys.get(&req.username) {
            Some(k) => (k.user_id, Some(k.id.clone())),
            None => (
                self.find_user_by_name(&req.username).ok_or_else(|| {
                    ApiError::new(
                        Rc::InvalidTargetUsername,
                        format!("No user named '{}' found.", req.username),
                    )
                })?,
                None,
            ),
        };
        let target = self.user(target_id)?;
        if target.is_anonymous() {
            return Err(ApiError::new(
                Rc::KudosTransferToAnon,
                "Kudos cannot be sent to the anonymous user.",
            ));
        }
        if target_id == source_id && shared.is_none() {
            return Err(ApiError::new(
                Rc::KudosTransferToSelf,
                "You cannot send kudos to yourself.",
            ));
        }
        if target.roles.flagged || target.roles.deleted || target.suspicion >= 5 {
            return Err(ApiError::new(
                Rc::TargetAccountFlagged,
                "The target account cannot receive kudos.",
            ));
        }
        let to_education = target.roles.education;
        let reverse = target
            .recent_transfers
            .iter()
            .any(|(to, at)| *to == source_id && now - at < REVERSE_TRANSFER_SECS);
        if reverse {
            return Err(ApiError::new(
                Rc::TooFastKudosTransfers,
                "You cannot send kudos back so soon after receiving them.",
            ));
        }
        let holds = self.held_kudos(source_id);
        let source = self.user(source_id)?;
        let available = available_kudos(
            source.kudos,
            kudos::min_kudos(source.account_kind()),
            holds,
            0.0,
        );
        if available < amount as f64 {
            return Err(ApiError::new(
                Rc::KudosTransferNotEnough,
                format!("Not enough kudos: {available:.0} available."),
            ));
        }
        let amount_f = amount as f64;
        let source = self.user_mut(source_id)?;
        source.move_kudos(-amount_f);
        if to_education {
            source.kudos_details.donated += amount_f;
        } else {
            source.kudos_details.gifted += amount_f;
        }
        source
            .recent_transfers
            .retain(|(_, at)| now - at < REVERSE_TRANSFER_SECS);
        source.recent_transfers.push((target_id, now));
        if let Some(key) = idempotency_key {
            source
                .idempotency
                .retain(|(_, _, _, at)| now - at < IDEMPOTENCY_SECS);
            source
                .idempotency
                .push((key.to_owned(), amount, req.username.clone(), now));
        }
        let target = self.user_mut(target_id)?;
        target.move_kudos(amount_f);
        target.kudos_details.received += amount_f;
        if let Some(key) = shared.and_then(|k| self.shared_keys.get_mut(&k)) {
            if key.kudos >= 0 {
                key.kudos += amount;
            }
            let id = key.id.clone();
            self.mark(Table::SharedKeys, id);
        }
        self.mark(Table::Users, source_id.to_string());
        self.mark(Table::Users, target_id.to_string());
        Ok(amount_f)
    }
}

fn validate_shared_key_input(input: &SharedKeyInput) -> Result<(), ApiError> {
    let range = |field: &str, v: Option<i64>, lo: i64, hi: i64| match v {
        Some(x) if x < lo || x > hi => Err(ApiError::bad_request(format!(
            "{field} must be between {lo} and {hi}"
        ))),
        _ => Ok(()),
    };
    range("kudos", input.kudos, -1, 50_000_000)?;
    range("expiry", input.expiry, -1, 36_500)?;
    range("max_image_pixels", input.max_image_pixels, -1, 4_194_304)?;
    range("max_image_steps", input.max_image_steps, -1, 500)?;
    range("max_text_tokens", input.max_text_tokens, -1, 500)?;
    if let Some(name) = &input.name
        && !(3..=255).contains(&name.chars().count())
    {
        return Err(ApiError::bad_request("name must be 3 to 255 characters"));
    }
    Ok(())
}
