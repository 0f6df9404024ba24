// The typed client: one function per command of crates/hone-api/API.md. The types are
// generated from the Rust types (ts-rs) into ./types; the transport is picked once (HTTP or
// Tauri) and can be replaced in tests.
import { HoneError } from './errors';
import { selectTransport, type Transport } from './transport';
import type { TokenLevel } from './types/TokenLevel';
import type { Account } from './types/Account';
import type { IssuedToken } from './types/IssuedToken';
import type { Role } from './types/Role';
import type { User } from './types/User';
import type { AnnotatorReport } from './types/AnnotatorReport';
import type { ArenaArgs } from './types/ArenaArgs';
import type { ArenaResults } from './types/ArenaResults';
import type { ArenaRound } from './types/ArenaRound';
import type { BaseModel } from './types/BaseModel';
import type { CandidateAdded } from './types/CandidateAdded';
import type { CandidateInput } from './types/CandidateInput';
import type { Candidates } from './types/Candidates';
import type { DownloadArgs } from './types/DownloadArgs';
import type { ExportVersionArgs } from './types/ExportVersionArgs';
import type { FeedbackInput } from './types/FeedbackInput';
import type { Flag } from './types/Flag';
import type { FlagId } from './types/FlagId';
import type { FlagInput } from './types/FlagInput';
import type { FineTuneOutcome } from './types/FineTuneOutcome';
import type { GenerationRequest } from './types/GenerationRequest';
import type { GoldItem } from './types/GoldItem';
import type { Guideline } from './types/Guideline';
import type { HistoryPage } from './types/HistoryPage';
import type { HistoryQuery } from './types/HistoryQuery';
import type { ImportReport } from './types/ImportReport';
import type { ImportTextArgs } from './types/ImportTextArgs';
import type { Job } from './types/Job';
import type { JobId } from './types/JobId';
import type { JudgmentId } from './types/JudgmentId';
import type { JudgmentDetail } from './types/JudgmentDetail';
import type { JudgmentKind } from './types/JudgmentKind';
import type { KindProgress } from './types/KindProgress';
import type { JudgmentProvenance } from './types/JudgmentProvenance';
import type { JobEvent } from './types/JobEvent';
import type { JobStarted } from './types/JobStarted';
import type { Method } from './types/Method';
import type { MetricPoint } from './types/MetricPoint';
import type { ModelInfo } from './types/ModelInfo';
import type { ModelRef } from './types/ModelRef';
import type { ModelVersion } from './types/ModelVersion';
import type { NamedItem } from './types/NamedItem';
import type { SpanLabel } from './types/SpanLabel';
import type { NewProject } from './types/NewProject';
import type { NextItemArgs } from './types/NextItemArgs';
import type { Plan } from './types/Plan';
import type { Project } from './types/Project';
import type { Promotion } from './types/Promotion';
import type { RetrainArgs } from './types/RetrainArgs';
import type { ProjectDetails } from './types/ProjectDetails';
import type { ProjectId } from './types/ProjectId';
import type { ProjectSpec } from './types/ProjectSpec';
import type { ProjectStats } from './types/ProjectStats';
import type { Prompt } from './types/Prompt';
import type { PlaygroundAnswer } from './types/PlaygroundAnswer';
import type { PlaygroundRequest } from './types/PlaygroundRequest';
import type { PromptId } from './types/PromptId';
import type { PromptWithResponses } from './types/PromptWithResponses';
import type { QueueItem } from './types/QueueItem';
import type { Recipe } from './types/Recipe';
import type { Recorded } from './types/Recorded';
import type { ResponseId } from './types/ResponseId';
import type { SkipInput } from './types/SkipInput';
import type { Split } from './types/Split';
import type { Suggestion } from './types/Suggestion';
import type { SuggestionArgs } from './types/SuggestionArgs';
import type { UiSettings } from './types/UiSettings';
import type { VersionEvaluation } from './types/VersionEvaluation';
import type { VersionId } from './types/VersionId';
import type { VersionProvenance } from './types/VersionProvenance';
import type { WorkspaceInfo } from './types/WorkspaceInfo';

let transport: Transport | null = null;

function current(): Transport {
  transport ??= selectTransport();
  return transport;
}

/** Replaces the transport (tests; a later desktop-only transport). */
export function setTransport(next: Transport | null): void {
  transport = next;
}

export function transportName(): Transport['name'] {
  return current().name;
}

function call<T>(command: string, args: object = {}): Promise<T> {
  return current().call<T>(command, args);
}

// ---- the UI's settings (not an API command: each transport keeps them its own way) ----

/** In the desktop the shell's `get_settings` (its settings store); in a browser localStorage. */
export const loadSettings = (): Promise<UiSettings> => current().loadSettings();
export const saveSettings = (settings: UiSettings): Promise<void> => current().saveSettings(settings);

// ---- jobs ----

export interface JobHandle<T> {
  /** The job id of this session (what `cancel_job` takes). */
  readonly id: number;
  /** Resolves with the `finished` event's result; rejects with the `failed` event's error. */
  readonly done: Promise<T>;
  /** Stops listening (the job itself goes on). */
  stop(): void;
}

/** Follows a started job: every event to `onEvent`, the outcome as a promise. */
export function followJob<T>(jobId: number, onEvent?: (event: JobEvent) => void): JobHandle<T> {
  let stop = () => {};
  const done = new Promise<T>((resolve, reject) => {
    stop = current().subscribe(
      jobId,
      (event) => {
        onEvent?.(event);
        if (event.event === 'finished') resolve(event.result as T);
        else if (event.event === 'failed') reject(new HoneError(event.error.code, event.error.message, event.error.field));
      },
      reject,
    );
  });
  return { id: jobId, done, stop: () => stop() };
}

async function startJob<T>(command: string, args: object, onEvent?: (event: JobEvent) => void): Promise<JobHandle<T>> {
  const started = await call<JobStarted>(command, args);
  return followJob<T>(Number(started.job_id), onEvent);
}

// ---- team accounts (hone serve --team) ----

/** The signed-in account; `null` outside team mode (the desktop, a local server). */
export const whoami = () => call<Account | null>('whoami');
/** Exchanges an account's token for the server's session cookie (HTTP only). */
export const signIn = (token: string) => call<Account>('session', { token });
export const signOut = () => call<null>('session/end');
export const listUsers = () => call<User[]>('list_users');
export const addUser = (name: string, role: Role) => call<IssuedToken>('add_user', { name, role });
export const newToken = (name: string) => call<IssuedToken>('new_token', { name });
export const revokeUser = (name: string) => call<User>('revoke_user', { name });
export const projectTokenLevel = (projectId: ProjectId) => call<TokenLevel>('project_token_level', { project_id: projectId });
export const setProjectTokenLevel = (projectId: ProjectId, settings: TokenLevel) =>
  call<TokenLevel>('set_project_token_level', { project_id: projectId, settings });
export const listMembers = (projectId: ProjectId) => call<User[]>('list_members', { project_id: projectId });
export const addMember = (projectId: ProjectId, name: string) => call<User[]>('add_member', { project_id: projectId, name });
export const removeMember = (projectId: ProjectId, name: string) =>
  call<User[]>('remove_member', { project_id: projectId, name });

// ---- workspace and projects ----

export const workspaceInfo = () => call<WorkspaceInfo>('workspace_info');
export const listProjects = () => call<Project[]>('list_projects');
export const createProject = (spec: ProjectSpec) => call<ProjectDetails>('create_project', spec);
export const projectDetails = (projectId: ProjectId) => call<ProjectDetails>('project_details', { project_id: projectId });
/** Every setting but the name (which the server ignores, but it must not be empty). */
export const updateProjectSettings = (projectId: ProjectId, settings: NewProject) =>
  call<Project>('update_project_settings', { project_id: projectId, settings });
export const setGuidelines = (projectId: ProjectId, text: string) => call<Guideline>('set_guidelines', { project_id: projectId, text });
export const addRatingCriterion = (projectId: ProjectId, item: NamedItem) =>
  call<ProjectDetails>('add_rating_criterion', { project_id: projectId, item });
export const addSpanLabel = (projectId: ProjectId, item: SpanLabel) => call<ProjectDetails>('add_span_label', { project_id: projectId, item });
export const projectStats = (projectId: ProjectId) => call<ProjectStats>('project_stats', { project_id: projectId });

// ---- models ----

export const inspectModel = (dir: string) => call<ModelInfo>('inspect_model', { dir });
export const buildStarter = (onEvent?: (e: JobEvent) => void) => startJob<ModelInfo>('build_starter', {}, onEvent);
/** Downloads a Hub model (`owner/name`) into the Hugging Face cache; the result is its folder's ModelInfo. */
export const downloadModel = (args: DownloadArgs, onEvent?: (e: JobEvent) => void) => startJob<ModelInfo>('download_model', args, onEvent);
export const listBaseModels = () => call<BaseModel[]>('list_base_models');

// ---- prompts and candidates ----

export const listPrompts = (projectId: ProjectId, split: Split | null = null) =>
  call<Prompt[]>('list_prompts', { project_id: projectId, split });
export const importText = (args: ImportTextArgs) => call<ImportReport>('import_text', args);

/** Imports a file the user picked: streamed to the server over HTTP; in the desktop shell its
 * text is sent with `import_text`. */
export async function importFile(projectId: ProjectId, file: File, split: Split): Promise<ImportReport> {
  const t = current();
  if (t.upload) {
    return t.upload<ImportReport>('upload/import', { project_id: String(projectId), file_name: file.name, split }, file);
  }
  return importText({ project_id: projectId, file_name: file.name, content: await file.text(), split });
}
export const setPromptSplit = (promptId: PromptId, split: Split) => call<null>('set_prompt_split', { prompt_id: promptId, split });
export const promptWithResponses = (promptId: PromptId) => call<PromptWithResponses>('prompt_with_responses', { prompt_id: promptId });
export const generateCandidates = (request: GenerationRequest, onEvent?: (e: JobEvent) => void) =>
  startJob<Candidates[]>('generate_candidates', request, onEvent);

// ---- labeling ----

/**
 * The next unit to judge. `exclude` lists units (their response ids) the UI already holds —
 * the one on screen and those being saved — so that a prefetch asks for the one after them.
 * A server that does not know `exclude` ignores it; the labeling session then notices the
 * repeat and fetches again once the judgment is saved.
 */
export const nextItem = (args: NextItemArgs, exclude: ResponseId[][] = []) =>
  call<QueueItem | null>('next_item', exclude.length > 0 ? { ...args, exclude } : args);
/** Records a judgment; with `supersedes` (the annotator's own earlier judgment id) it re-judges. */
export const recordFeedback = (input: FeedbackInput) => call<Recorded>('record_feedback', input);
export const undoJudgment = (judgmentId: JudgmentId) => call<null>('undo_judgment', { judgment_id: judgmentId });
/** Puts the unit at the back of this annotator's queue (it comes back when nothing else is open). */
export const skipItem = (input: SkipInput) => call<null>('skip_item', input);
/** Flags the unit (broken prompt, off topic, not my expertise, unsafe): it never comes back to this annotator. */
export const flagItem = (input: FlagInput) => call<Flag>('flag_item', input);
export const unflagItem = (flagId: FlagId) => call<null>('unflag_item', { flag_id: flagId });
/** A free prompt answered by a base model or version; `token` events carry the text as it comes. */
export const playground = (request: PlaygroundRequest, onEvent?: (e: JobEvent) => void) => startJob<PlaygroundAnswer>('playground', request, onEvent);
/** An answer (from the playground) added to the project as a candidate of its prompt (created when new). */
export const addCandidate = (input: CandidateInput) => call<CandidateAdded>('add_candidate', input);
export const listFlags = (projectId: ProjectId) => call<Flag[]>('list_flags', { project_id: projectId });
/** A page of judgments, newest first; see HistoryQuery for the filters (`verdict`: a, b, tie, both_bad, ranked, rated, edited, accepted, marked, up, down, written, critique). */
export const judgmentHistory = (query: HistoryQuery) => call<HistoryPage>('judgment_history', query);
/** One judgment as recorded; change its `feedback` and send it with `supersedes` to re-judge. */
export const judgmentDetail = (judgmentId: JudgmentId) => call<JudgmentDetail>('judgment_detail', { judgment_id: judgmentId });
/** Makes a judgment (comparison, ranking, rating, thumbs) the known answer of its item. */
export const markGold = (judgmentId: JudgmentId) => call<GoldItem>('mark_gold', { judgment_id: judgmentId });
export const unmarkGold = (judgmentId: JudgmentId) => call<null>('unmark_gold', { judgment_id: judgmentId });
export const goldItems = (projectId: ProjectId) => call<GoldItem[]>('gold_items', { project_id: projectId });
/**
 * The scores of the answers on screen (in the order shown) and the one preferred: by the latest
 * reward model (`invalid` while the project has none), or with `judge` by that model asked
 * which answer is best (the scores are probabilities). Shown only on request.
 */
export const suggestion = (projectId: ProjectId, responseIds: ResponseId[], judge: ModelRef | null = null) => {
  const args: SuggestionArgs = { project_id: projectId, response_ids: responseIds };
  if (judge) args.judge = judge;
  return call<Suggestion>('suggestion', args);
};

// ---- fine-tuning and jobs ----

export const defaultRecipe = (method: Method, modelDir: string) => call<Recipe>('default_recipe', { method, model_dir: modelDir });
export const planFineTune = (projectId: ProjectId, recipe: Recipe) => call<Plan>('plan_fine_tune', { project_id: projectId, recipe });
export const startFineTune = (projectId: ProjectId, recipe: Recipe, onEvent?: (e: JobEvent) => void) =>
  startJob<FineTuneOutcome>('start_fine_tune', { project_id: projectId, recipe }, onEvent);
/** Resumes a fine-tune recorded in the workspace (`Job.id`) as a new job of this session. */
export const resumeJob = (storedJobId: JobId, onEvent?: (e: JobEvent) => void) =>
  startJob<FineTuneOutcome>('resume_job', { job_id: storedJobId }, onEvent);
/** Cancels a job of this session (`JobHandle.id`). */
export const cancelJob = (jobId: number) => call<null>('cancel_job', { job_id: jobId });
export const listJobs = (projectId: ProjectId | null = null) => call<Job[]>('list_jobs', { project_id: projectId });
export const jobMetrics = (storedJobId: JobId) => call<MetricPoint[]>('job_metrics', { job_id: storedJobId });

// ---- versions and arena ----

export const listVersions = (projectId: ProjectId) => call<ModelVersion[]>('list_versions', { project_id: projectId });
export const exportVersion = (args: ExportVersionArgs) => call<string[]>('export_version', args);
export const arenaRound = (args: ArenaArgs) => call<ArenaRound>('arena_round', args);
export const arenaResults = (args: ArenaArgs) => call<ArenaResults>('arena_results', args);

// ---- trust: evaluation, promotion, provenance, annotators ----
export const evaluateVersion = (versionId: VersionId, onEvent?: (e: JobEvent) => void) =>
  startJob<VersionEvaluation>('evaluate_version', { version_id: versionId }, onEvent);
export const promoteVersion = (versionId: VersionId, force: boolean, onEvent?: (e: JobEvent) => void) =>
  startJob<Promotion>('promote_version', { version_id: versionId, force }, onEvent);
export const retrainWithout = (args: RetrainArgs, onEvent?: (e: JobEvent) => void) => startJob<FineTuneOutcome>('retrain_without', args, onEvent);
export const versionProvenance = (versionId: VersionId) => call<VersionProvenance>('version_provenance', { version_id: versionId });
export const judgmentProvenance = (judgmentId: JudgmentId) => call<JudgmentProvenance>('judgment_provenance', { judgment_id: judgmentId });
/** One kind's labeling progress (a lead's view): units complete, under way, untouched, held now. */
export const queueProgress = (projectId: ProjectId, kind: JudgmentKind) =>
  call<KindProgress>('queue_progress', { project_id: projectId, kind });
export const annotatorReport = (projectId: ProjectId) => call<AnnotatorReport>('annotator_report', { project_id: projectId });
