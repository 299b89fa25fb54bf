//! The plugin's systems: submit, poll, apply, the worker's start and idle
//! gating, and the observer that cancels despawned requests.

use std::collections::HashMap;

use bevy_asset::{Assets, Handle, RenderAssetUsages};
use bevy_ecs::lifecycle::Remove;
use bevy_ecs::prelude::*;
use bevy_image::Image;
use horde_core::runtime::{Event, RequestId, RetryCause};
use wgpu_types::{Extent3d, TextureDimension, TextureFormat};

use crate::plugin::{
    Drained, HordeConnection, HordeIdle, HordeRuntime, HordeUnavailable, HordeWorker,
};
use crate::request::{
    FormArrived, HordeConnectionChanged, HordeEstimate, HordeImageReady, HordeImageRequest,
    HordeImages, HordeInterrogation, HordeInterrogationReady, HordeInterrogationRequest,
    HordeModels, HordeQuestionFailed, HordeRequestEnded, HordeRequestId, HordeRequestState,
    HordeTextReady, HordeTextRequest, HordeTexts, HordeUser, HordeWorkerJob, HordeWorkerStatus,
    ImageArrived, RequestEnded, TextArrived,
};

type NewRequests<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        Option<&'static HordeImageRequest>,
        Option<&'static HordeTextRequest>,
        Option<&'static HordeInterrogationRequest>,
        Option<&'static HordeRequestId>,
        Option<&'static HordeRequestState>,
    ),
    // `Changed` includes `Added`, and sees a request inserted again on an
    // entity that already held one.
    Or<(
        Changed<HordeImageRequest>,
        Changed<HordeTextRequest>,
        Changed<HordeInterrogationRequest>,
    )>,
>;

/// Which entity each request the runtime still runs belongs to: kept
/// across frames (filled by `submit`, emptied as requests end), so a
/// request whose entity was despawned or lost its id still ends once.
#[derive(Resource, Default)]
pub(crate) struct Owners(pub(crate) HashMap<RequestId, Entity>);

/// Sends new requests: a request component added, or inserted again. A
/// request inserted on an entity that already had one replaces it: the old one is cancelled (its end is still announced,
/// as a message) and its results are cleared.
pub(crate) fn submit(
    mut commands: Commands,
    runtime: Option<Res<HordeRuntime>>,
    unavailable: Option<Res<HordeUnavailable>>,
    mut owners: ResMut<Owners>,
    mut ended: MessageWriter<HordeRequestEnded>,
    new: NewRequests,
) {
    let Some(runtime) = runtime else {
        // The plugin could not start: every request ends at once, saying why.
        let Some(why) = unavailable else { return };
        for (entity, ..) in &new {
            let state = HordeRequestState::Failed {
                rc: None,
                message: why.0.clone(),
            };
            ended.write(HordeRequestEnded {
                entity,
                state: state.clone(),
            });
            if let Ok(mut e) = commands.get_entity(entity) {
                e.try_insert(state.clone());
                commands.trigger(RequestEnded { entity, state });
            }
        }
        return;
    };
    for (entity, image, text, interrogation, old, state) in &new {
        let id = if let Some(r) = image {
            runtime.0.submit_image(r.0.clone())
        } else if let Some(r) = text {
            runtime.0.submit_text(r.0.clone())
        } else if let Some(r) = interrogation {
            runtime.0.submit_interrogation(r.0.clone())
        } else {
            continue;
        };
        if let Some(old) = old
            && !state.is_some_and(HordeRequestState::is_final)
        {
            runtime.0.cancel(old.0);
        }
        owners.0.insert(id, entity);
        let Ok(mut e) = commands.get_entity(entity) else {
            continue;
        };
        if old.is_some() {
            e.remove::<(HordeImages, HordeTexts, HordeInterrogation)>();
        }
        e.try_insert((HordeRequestId(id), HordeRequestState::Submitted));
    }
}

/// The name each [`HordeWorker`] entity's worker runs under in the runtime
/// (what to stop when the component goes, even if the game renamed it).
#[derive(Resource, Default)]
pub(crate) struct WorkerNames(HashMap<Entity, String>);

/// Starts the workers of new [`HordeWorker`] components and restarts those
/// whose component changed. Both go through `restart_worker`: a worker of
/// that name still stopping (its entity despawned this frame, a new one
/// spawned under the same name) finishes first, then the new one starts.
pub(crate) fn start_workers(
    workers: Query<(Entity, &HordeWorker), Changed<HordeWorker>>,
    runtime: Option<Res<HordeRuntime>>,
    mut names: ResMut<WorkerNames>,
) {
    let Some(runtime) = runtime else { return };
    for (entity, w) in &workers {
        let name = w.config.name.clone();
        // Renamed: the old name stops, the new one starts.
        if let Some(old) = names.0.insert(entity, name.clone())
            && old != name
        {
            runtime.0.stop_worker(&old);
        }
        runtime
            .0
            .restart_worker(w.config.clone(), w.backend.clone());
    }
}

/// Stops the worker of a [`HordeWorker`] removed or despawned: it finishes
/// its job and enters maintenance.
pub(crate) fn stop_removed_worker(
    removed: On<Remove, HordeWorker>,
    runtime: Option<Res<HordeRuntime>>,
    mut names: ResMut<WorkerNames>,
) {
    if let Some(name) = names.0.remove(&removed.entity)
        && let Some(runtime) = runtime
    {
        runtime.0.stop_worker(&name);
    }
}

pub(crate) fn follow_idle(
    idle: Option<Res<HordeIdle>>,
    runtime: Option<Res<HordeRuntime>>,
    mut sent: Local<Option<bool>>,
) {
    let Some(runtime) = runtime else { return };
    // A missing `HordeIdle` means the player is not idle.
    let now = idle.is_some_and(|i| i.0);
    if *sent != Some(now) {
        runtime.0.set_idle(now);
        *sent = Some(now);
    }
}

pub(crate) fn poll(runtime: Option<Res<HordeRuntime>>, mut drained: ResMut<Drained>) {
    let Some(runtime) = runtime else { return };
    // `drain_events` allocates nothing when nothing is pending, and the
    // buffer keeps its capacity between frames.
    runtime
        .0
        .drain_events(&mut drained.bypass_change_detection().0);
}

/// The results of one request gathered in one frame, inserted together
/// (one deferred insert per result would keep only the last).
#[derive(Default)]
struct Gathered {
    images: Vec<Handle<Image>>,
    texts: Vec<String>,
    forms: serde_json::Map<String, serde_json::Value>,
}

/// An entity event to trigger once the frame's results are in place.
enum Announce {
    Image(ImageArrived),
    Text(TextArrived),
    Form(FormArrived),
    Ended(RequestEnded),
}

type Requests<'w, 's> = Query<
    'w,
    's,
    (
        Option<&'static HordeRequestId>,
        &'static mut HordeRequestState,
        Option<&'static mut HordeImages>,
        Option<&'static mut HordeTexts>,
        Option<&'static mut HordeInterrogation>,
    ),
>;

/// Applies the frame's events: states, results, messages, entity events.
pub(crate) fn apply(
    mut commands: Commands,
    mut drained: ResMut<Drained>,
    mut owners: ResMut<Owners>,
    mut images: Option<ResMut<Assets<Image>>>,
    mut requests: Requests,
    mut connection: ResMut<HordeConnection>,
    mut out: ApplyWriters,
) {
    if drained.0.is_empty() {
        return;
    }
    let mut gathered: HashMap<Entity, Gathered> = HashMap::new();
    let mut announce = Vec::new();
    for event in drained.0.drain(..) {
        let ends = event.ends_request();
        let owner = event.request().and_then(|id| {
            let e = *owners.0.get(&id)?;
            // The entity's own request, or the one whose id it lost; not
            // an older request it replaced.
            let current = requests
                .get(e)
                .is_ok_and(|(held, ..)| held.is_none_or(|h| h.0 == id));
            if ends {
                owners.0.remove(&id);
            }
            Some((e, current))
        });
        match event {
            Event::Queued {
                position,
                wait_time,
                ..
            } => set_state(
                &mut requests,
                owner,
                HordeRequestState::Queued {
                    position,
                    wait_time,
                },
            ),
            // Nothing handed out yet is still queued, not processing.
            Event::Progress {
                processing: 0,
                finished: 0,
                ..
            } => {}
            Event::Progress {
                waiting,
                processing,
                finished,
                ..
            } => set_state(
                &mut requests,
                owner,
                HordeRequestState::Processing {
                    waiting,
                    processing,
                    finished,
                },
            ),
            Event::WaitingForSlot { .. } => {
                set_state(&mut requests, owner, HordeRequestState::WaitingForSlot);
            }
            Event::Retrying {
                cause, retry_in, ..
            } => set_state(
                &mut requests,
                owner,
                HordeRequestState::Retrying {
                    message: match cause {
                        RetryCause::RateLimited => "the horde asked to slow down".to_owned(),
                        RetryCause::Unreachable(why) => why,
                    },
                    retry_in,
                },
            ),
            Event::Connection { state } => {
                connection.0 = Some(state.clone());
                out.connection.write(HordeConnectionChanged { state });
            }
            Event::ImageReady {
                index,
                width,
                height,
                rgba,
                seed,
                worker,
                ..
            } => {
                let (Some((e, current)), Some(assets)) = (owner, images.as_deref_mut()) else {
                    continue;
                };
                let image = Image::new(
                    Extent3d {
                        width,
                        height,
                        depth_or_array_layers: 1,
                    },
                    TextureDimension::D2,
                    rgba,
                    TextureFormat::Rgba8UnormSrgb,
                    RenderAssetUsages::default(),
                );
                let handle = assets.add(image);
                if current {
                    gathered.entry(e).or_default().images.push(handle.clone());
                    announce.push(Announce::Image(ImageArrived {
                        entity: e,
                        image: handle.clone(),
                    }));
                }
                out.images.write(HordeImageReady {
                    entity: e,
                    index,
                    image: handle,
                    seed,
                    worker,
                });
            }
            Event::TextReady { text, worker, .. } => {
                let Some((e, current)) = owner else { continue };
                if current {
                    gathered.entry(e).or_default().texts.push(text.clone());
                    announce.push(Announce::Text(TextArrived {
                        entity: e,
                        text: text.clone(),
                    }));
                }
                out.texts.write(HordeTextReady {
                    entity: e,
                    text,
                    worker,
                });
            }
            Event::InterrogationReady { form, result, .. } => {
                let Some((e, current)) = owner else { continue };
                if current {
                    gathered.entry(e).or_default().forms.extend(result.clone());
                    announce.push(Announce::Form(FormArrived {
                        entity: e,
                        form: form.clone(),
                        result: result.clone(),
                    }));
                }
                out.forms.write(HordeInterrogationReady {
                    entity: e,
                    form,
                    result,
                });
            }
            Event::Completed { .. } => {
                end(
                    &mut requests,
                    &mut out,
                    &mut announce,
                    owner,
                    HordeRequestState::Done,
                );
            }
            Event::Cancelled { .. } => end(
                &mut requests,
                &mut out,
                &mut announce,
                owner,
                HordeRequestState::Cancelled,
            ),
            Event::Failed { id, error } => {
                let state = HordeRequestState::failed(&error);
                match owner {
                    Some(_) => end(&mut requests, &mut out, &mut announce, owner, state),
                    None => {
                        out.questions
                            .failed
                            .write(HordeQuestionFailed { request: id, state });
                    }
                }
            }
            Event::Estimated { id, kudos } => {
                out.questions
                    .estimates
                    .write(HordeEstimate { request: id, kudos });
            }
            Event::Models { id, models } => {
                out.questions.models.write(HordeModels {
                    request: id,
                    models,
                });
            }
            Event::User { id, user } => {
                out.questions.users.write(HordeUser { request: id, user });
            }
            Event::Worker { name, event } => {
                out.status.write(HordeWorkerStatus {
                    worker: name,
                    event,
                });
            }
            Event::WorkerJob {
                ticket,
                worker,
                job,
                source,
            } => {
                out.jobs.write(HordeWorkerJob {
                    ticket,
                    worker,
                    job: *job,
                    source,
                });
            }
        }
    }
    // Results first, in one update per entity, then the entity events, so
    // an observer sees every result of the frame — and may despawn the
    // entity without a later insert failing.
    for (e, got) in gathered {
        let Ok((_, _, held_images, held_texts, held_forms)) = requests.get_mut(e) else {
            continue;
        };
        let Ok(mut entity) = commands.get_entity(e) else {
            continue;
        };
        if !got.images.is_empty() {
            match held_images {
                Some(mut held) => held.0.extend(got.images),
                None => {
                    entity.try_insert(HordeImages(got.images));
                }
            }
        }
        if !got.texts.is_empty() {
            match held_texts {
                Some(mut held) => held.0.extend(got.texts),
                None => {
                    entity.try_insert(HordeTexts(got.texts));
                }
            }
        }
        if !got.forms.is_empty() {
            match held_forms {
                Some(mut held) => held.0.extend(got.forms),
                None => {
                    entity.try_insert(HordeInterrogation(got.forms));
                }
            }
        }
    }
    for a in announce {
        match a {
            Announce::Image(e) => commands.trigger(e),
            Announce::Text(e) => commands.trigger(e),
            Announce::Form(e) => commands.trigger(e),
            Announce::Ended(e) => commands.trigger(e),
        }
    }
}

fn set_state(requests: &mut Requests, owner: Option<(Entity, bool)>, state: HordeRequestState) {
    if let Some((e, true)) = owner
        && let Ok((_, mut s, ..)) = requests.get_mut(e)
    {
        *s = state;
    }
}

/// The message writers `apply` uses.
#[derive(bevy_ecs::system::SystemParam)]
pub(crate) struct ApplyWriters<'w> {
    images: MessageWriter<'w, HordeImageReady>,
    texts: MessageWriter<'w, HordeTextReady>,
    forms: MessageWriter<'w, HordeInterrogationReady>,
    ended: MessageWriter<'w, HordeRequestEnded>,
    status: MessageWriter<'w, HordeWorkerStatus>,
    jobs: MessageWriter<'w, HordeWorkerJob>,
    connection: MessageWriter<'w, HordeConnectionChanged>,
    questions: QuestionWriters<'w>,
}

/// The writers of answers to one-shot questions.
#[derive(bevy_ecs::system::SystemParam)]
pub(crate) struct QuestionWriters<'w> {
    estimates: MessageWriter<'w, HordeEstimate>,
    models: MessageWriter<'w, HordeModels>,
    users: MessageWriter<'w, HordeUser>,
    failed: MessageWriter<'w, HordeQuestionFailed>,
}

/// A request ended: exactly one [`HordeRequestEnded`] message, and one
/// [`RequestEnded`] entity event while the entity still holds it.
fn end(
    requests: &mut Requests,
    out: &mut ApplyWriters,
    announce: &mut Vec<Announce>,
    owner: Option<(Entity, bool)>,
    state: HordeRequestState,
) {
    let Some((e, current)) = owner else { return };
    if current {
        set_state(requests, owner, state.clone());
        announce.push(Announce::Ended(RequestEnded {
            entity: e,
            state: state.clone(),
        }));
    }
    out.ended.write(HordeRequestEnded { entity: e, state });
}

/// A request entity despawned (or its id removed) before it ended: cancel
/// it on the server. Ended requests are unknown to the runtime by then, so
/// this costs nothing for them.
pub(crate) fn cancel_removed(
    removed: On<Remove, HordeRequestId>,
    ids: Query<(&HordeRequestId, Option<&HordeRequestState>)>,
    runtime: Option<Res<HordeRuntime>>,
) {
    if let Some(runtime) = runtime
        && let Ok((id, state)) = ids.get(removed.entity)
        && !state.is_some_and(HordeRequestState::is_final)
    {
        runtime.0.cancel(id.0);
    }
}
