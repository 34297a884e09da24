// A typed use of the types openapi-typescript generates from openapi/openapi.json (tsc
// --noEmit --strict, tests/test_generated_clients.py). Each `@ts-expect-error` must meet an
// error: tsc fails if the spec stops stating what it marks.
import type { components, paths } from "./openapi";

type Schemas = components["schemas"];
type Checkpoint = Schemas["Checkpoint"];
type Decision = Schemas["Decision"];
type Problem = Schemas["Problem"];

// An answer carries every field: no `undefined` to handle.
export function hours(checkpoint: Checkpoint): string {
  return checkpoint.opening_hours;
}
export function revision(checkpoint: Checkpoint): number {
  return checkpoint.revision;
}

// A batch result is a decision or a problem, told apart by the problem's members.
type BatchResult =
  paths["/v1/decisions"]["post"]["responses"][200]["content"]["application/json"];
function isProblem(item: Decision | Problem): item is Problem {
  return "type" in item && "status" in item;
}
export function problems(batch: BatchResult): Problem[] {
  return batch.results.filter(isProblem);
}
export function allowed(item: Decision | Problem): boolean | null {
  return isProblem(item) ? null : item.allowed;
}

// A merge patch names only what changes; `null` removes an optional field.
type CheckpointPatch =
  paths["/v1/checkpoints/{checkpoint_id}"]["patch"]["requestBody"]["content"]["application/merge-patch+json"];
export const rename: CheckpointPatch = { name: "Medininkai" };
export const noCounterpart: CheckpointPatch = { counterpart: null, opening_hours: null };
// @ts-expect-error a required field cannot be removed
export const noName: CheckpointPatch = { name: null };

// A create needs the required fields; the read-only ones come back in the answer.
type CheckpointInput = Schemas["CheckpointInput"];
export const created: CheckpointInput = {
  id: "medininkai",
  name: "Medininkai",
  countries: ["LT", "BY"],
  kind: "road",
  timezone: "Europe/Vilnius",
};
// @ts-expect-error a checkpoint needs its kind
export const incomplete: CheckpointInput = { id: "x", name: "X", countries: ["LT", "BY"], timezone: "UTC" };
// @ts-expect-error an answer always has its revision
export const unversioned: Checkpoint = { ...created, local_names: {}, counterpart: null, location: null, opening_hours: "24/7", created_at: "", updated_at: "" };

// A write is conditional: If-Match is a required header.
type DeleteHeaders = paths["/v1/rules/{rule_id}"]["delete"]["parameters"]["header"];
export const conditional: DeleteHeaders = { "If-Match": '"3-5f2a9c1e"' };

// One page of the change feed.
type ChangesPage =
  paths["/v1/changes"]["get"]["responses"][200]["content"]["application/json"];
export function next(page: ChangesPage): number {
  return page.has_more ? page.last_seq : page.changes.length;
}
