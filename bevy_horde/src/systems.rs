//! The plugin's systems: submit, poll, apply, the worker's start and idle
//! gating, and the observer that cancels despawned requests.

use std::collections::HashMap;

use bevy_asset::{Assets, RenderAssetUsages};
use bevy_ecs::lifecycle::Remove;
use bevy_ecs::prelude::*;
use bevy_image::Image;
use horde_core::runtime::{Event, RequestId};
use wgpu_types::{Extent3d, TextureDimension, TextureFormat};

use crate::plugin::{Drained, HordeIdle, HordeRuntime, HordeWorker};
use crate::request::{
    FormArrived, HordeEstimate, HordeImageReady, HordeImageRequest, HordeImages,
    HordeInterrogation, HordeInterrogationReady, HordeInterrogationRequest, HordeModels,
    HordeQuestionFailed, HordeRequestEnded, HordeRequestId, HordeRequestState, HordeTextReady,
    HordeTextRequest, HordeTexts, HordeUser, HordeWorkerJob, HordeWorkerStatus, ImageArrived,
    RequestEnded, TextArrived,
};

type NewRequests<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        Option<&'static HordeImageRequest>,
        Option<&'static HordeTextRequest>,
        Option<&'static HordeInterrogationRequest>,
    ),
    (
        Without<HordeRequestId>,
        Or<(
            Added<HordeImageRequest>,
            Added<HordeTextRequest>,
            Added<HordeInterrogationRequest>,
        )>,
    ),
>;

pub(crate) fn submit(mut commands: Commands, runtime: Res<HordeRuntime>, new: NewRequests) {
    for (entity, image, text, interrogation) in &new {
        let id = if let Some(r) = image {
            runtime.0.submit_image(r.0.clone())
        } else if let Some(r) = text {
            runtime.0.submit_text(r.0.clone())
        } else if let Some(r) = interrogation {
            runtime.0.submit_interrogation(r.0.clone())
        } else {
            continue;
        };
        commands
            .entity(entity)
            .insert((HordeRequestId(id), HordeRequestState::Submitted));
    }
}

pub(crate) fn start_worker(
    worker: Option<Res<HordeWorker>>,
    runtime: Res<HordeRuntime>,
    idle: Res<HordeIdle>,
) {
    if let Some(w) = worker
        && w.is_added()
    {
        runtime
            .0
            .start_worker(w.config.clone(), w.backend.clone(), idle.0);
    }
}

pub(crate) fn follow_idle(idle: Res<HordeIdle>, runtime: Res<HordeRuntime>) {
    if idle.is_changed() && !idle.is_added() {
        runtime.0.set_idle(idle.0);
    }
}

pub(crate) fn poll(runtime: Res<HordeRuntime>, mut drained: ResMut<Drained>) {
    // `drain_events` allocates nothing when nothing is pending, and the
    // buffer keeps its capacity between frames.
    runtime
        .0
        .drain_events(&mut drained.bypass_change_detection().0);
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    mut commands: Commands,
    mut drained: ResMut<Drained>,
    mut images: Option<ResMut<Assets<Image>>>,
    ids: Query<(Entity, &HordeRequestId)>,
    mut states: Query<&mut HordeRequestState>,
    mut held_images: Query<&mut HordeImages>,
    mut held_texts: Query<&mut HordeTexts>,
    mut held_forms: Query<&mut HordeInterrogation>,
    mut out: ApplyWriters,
) {
    if drained.0.is_empty() {
        return;
    }
    let owners: HashMap<RequestId, Entity> = ids.iter().map(|(e, id)| (id.0, e)).collect();
    for event in drained.0.drain(..) {
        let owner = |id: &RequestId| owners.get(id).copied();
        match event {
            Event::Queued {
                id,
                position,
                wait_time,
            } => {
                if let Some(e) = owner(&id)
                    && let Ok(mut s) = states.get_mut(e)
                {
                    *s = HordeRequestState::Queued {
                        position,
                        wait_time,
                    };
                }
            }
            Event::Progress {
                id,
                waiting,
                processing,
                finished,
                ..
            } => {
                if let Some(e) = owner(&id)
                    && let Ok(mut s) = states.get_mut(e)
                {
                    *s = HordeRequestState::Processing {
                        waiting,
                        processing,
                        finished,
                    };
                }
            }
            Event::ImageReady {
                id,
                index,
                width,
                height,
                rgba,
                seed,
                worker,
                ..
            } => {
                let (Some(e), Some(assets)) = (owner(&id), images.as_deref_mut()) else {
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
                match held_images.get_mut(e) {
                    Ok(mut held) => held.0.push(handle.clone()),
                    Err(_) => {
                        commands.entity(e).insert(HordeImages(vec![handle.clone()]));
                    }
                }
                out.images.write(HordeImageReady {
                    entity: e,
                    index,
                    image: handle.clone(),
                    seed,
                    worker,
                });
                commands.trigger(ImageArrived {
                    entity: e,
                    image: handle,
                });
            }
            Event::TextReady {
                id, text, worker, ..
            } => {
                let Some(e) = owner(&id) else { continue };
                match held_texts.get_mut(e) {
                    Ok(mut held) => held.0.push(text.clone()),
                    Err(_) => {
                        commands.entity(e).insert(HordeTexts(vec![text.clone()]));
                    }
                }
                out.texts.write(HordeTextReady {
                    entity: e,
                    text: text.clone(),
                    worker,
                });
                commands.trigger(TextArrived { entity: e, text });
            }
            Event::InterrogationReady { id, form, result } => {
                let Some(e) = owner(&id) else { continue };
                match held_forms.get_mut(e) {
                    Ok(mut held) => held.0.extend(result.clone()),
                    Err(_) => {
                        commands
                            .entity(e)
                            .insert(HordeInterrogation(result.clone()));
                    }
                }
                out.forms.write(HordeInterrogationReady {
                    entity: e,
                    form: form.clone(),
                    result: result.clone(),
                });
                commands.trigger(FormArrived {
                    entity: e,
                    form,
                    result,
                });
            }
            Event::Completed { id } => end(
                &mut commands,
                &mut states,
                &mut out,
                owner(&id),
                HordeRequestState::Done,
            ),
            Event::Failed { id, error } => {
                let state = HordeRequestState::failed(&error);
                match owner(&id) {
                    Some(e) => end(&mut commands, &mut states, &mut out, Some(e), state),
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
            Event::Cancelled { id } => {
                end(
                    &mut commands,
                    &mut states,
                    &mut out,
                    owner(&id),
                    HordeRequestState::Cancelled,
                );
            }
            Event::Worker { name, event } => {
                out.status.write(HordeWorkerStatus {
                    worker: name,
                    event,
                });
            }
            Event::WorkerJob { ticket, job } => {
                out.jobs.write(HordeWorkerJob { ticket, job: *job });
            }
        }
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

fn end(
    commands: &mut Commands,
    states: &mut Query<&mut HordeRequestState>,
    out: &mut ApplyWriters,
    entity: Option<Entity>,
    state: HordeRequestState,
) {
    let Some(e) = entity else { return };
    if let Ok(mut s) = states.get_mut(e) {
        *s = state.clone();
    }
    out.ended.write(HordeRequestEnded {
        entity: e,
        state: state.clone(),
    });
    commands.trigger(RequestEnded { entity: e, state });
}

/// A request entity despawned (or its id removed) before it ended: cancel
/// it on the server. Ended requests are unknown to the runtime by then, so
/// this costs nothing for them.
pub(crate) fn cancel_removed(
    removed: On<Remove, HordeRequestId>,
    ids: Query<(&HordeRequestId, Option<&HordeRequestState>)>,
    runtime: Res<HordeRuntime>,
) {
    if let Ok((id, state)) = ids.get(removed.entity)
        && !state.is_some_and(HordeRequestState::is_final)
    {
        runtime.0.cancel(id.0);
    }
}
