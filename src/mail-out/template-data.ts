/**
 * The variables every outgoing-email template can use: the single place where they are declared.
 *
 * Each template kind is one entry in `templateKinds` (declared by group in template-kinds/): when it is sent (description), who reads it
 * (audience: customer → layouts/default, staff → layouts/staff), what it is about (scope: one
 * case → starts with `commonVariables`; the whole installation → starts with `instanceVariables`,
 * no case fields) and a tree of variable declarations (type, description, example). From that
 * tree we derive
 *   - the TypeScript type of the data a caller must pass (`TemplateDataMap`),
 *   - the static check of the Handlebars files (unknown variables, `#each` item types),
 *   - sample data for trial renders, `templates preview` and `send-test` (`sampleTemplateData`),
 *   - the reference page for admins, docs/templates.md (`listTemplateVariables`,
 *     `casegate templates docs`).
 *
 * Adding a template kind: add one entry to its group in template-kinds/ (case-emails.ts, agent-emails.ts,
 * instance-emails.ts, web-pages.ts), ship `templates/<kind>.subject.hbs`,
 * `<kind>.text.hbs` and `<kind>.html.hbs` (and `templates/de/…`), then regenerate the reference
 * page with `casegate templates docs`.
 *
 * `body` is reserved: layouts receive the rendered body under that name.
 */

import { commonVariables } from './template-kinds/bases.js';
import { agentEmailKinds } from './template-kinds/agent-emails.js';
import { caseEmailKinds } from './template-kinds/case-emails.js';
import { instanceEmailKinds } from './template-kinds/instance-emails.js';
import { webPageKinds } from './template-kinds/web-pages.js';
import { exampleOf, flattenVariables, type DataOfFields, type TemplateAudience, type TemplateKindDeclaration, type VarFields, type VariableInfo } from './template-kinds/vars.js';

export { commonVariables, instanceVariables, staffCaseVariables } from './template-kinds/bases.js';
export type {
  BooleanVar,
  DataOf,
  DataOfFields,
  ListVar,
  NumberVar,
  ObjectVar,
  StringVar,
  TemplateAudience,
  TemplateKindDeclaration,
  VarFields,
  VariableInfo,
  VarSpec,
} from './template-kinds/vars.js';

/** Every template kind, in declaration order: case emails, installation emails, web pages. */
export const templateKinds = { ...caseEmailKinds, ...agentEmailKinds, ...instanceEmailKinds, ...webPageKinds } as const satisfies { readonly [kind: string]: TemplateKindDeclaration };

/** Layout file name per audience: layouts/<name>.text.hbs and layouts/<name>.html.hbs. */
export const layoutOfAudience = { customer: 'default', staff: 'staff', web: 'page' } as const satisfies Record<TemplateAudience, string>;

export type TemplateLayout = (typeof layoutOfAudience)[TemplateAudience];

/** Every layout name, each needed in the base folder. */
export const templateLayouts: readonly TemplateLayout[] = [...new Set(Object.values(layoutOfAudience))];

// ---------------------------------------------------------------------------------------------
// Derived types

type Kinds = typeof templateKinds;

export type CommonData = DataOfFields<typeof commonVariables>;

/** Template kind → the data its templates are rendered with. */
export type TemplateDataMap = { readonly [K in keyof Kinds]: DataOfFields<Kinds[K]['variables']> };

export type TemplateName = keyof TemplateDataMap;

export type ConfirmationData = TemplateDataMap['confirmation'];
export type ReopenedData = TemplateDataMap['reopened'];
export type MailboxAlertData = TemplateDataMap['mailbox-alert'];

// ---------------------------------------------------------------------------------------------
// Runtime helpers

/** Every template kind, in declaration order. */
export const templateNames: readonly TemplateName[] = Object.keys(templateKinds) as TemplateName[];

/** Kinds sent to the admin about the system (no case, no customer), not to customers. */
export const systemTemplateNames = ['mailbox-alert', 'mailbox-recovered'] as const satisfies readonly TemplateName[];
export type SystemTemplateName = (typeof systemTemplateNames)[number];
/** Kinds declared with scope "instance" (about the installation, no case). */
export type InstanceTemplateName = { [K in TemplateName]: Kinds[K]['scope'] extends 'instance' ? K : never }[TemplateName];
export type OutboxAlertData = TemplateDataMap['outbox-alert'];

/** Kinds declared with scope "case". */
export type CaseTemplateName = { [K in TemplateName]: Kinds[K]['scope'] extends 'case' ? K : never }[TemplateName];

export function isSystemTemplate(name: TemplateName): name is SystemTemplateName {
  return (systemTemplateNames as readonly TemplateName[]).includes(name);
}

/** Kinds about one case (scope "case": they get the full common data, `commonVariables`). */
export const caseTemplateNames: readonly CaseTemplateName[] = templateNames.filter((n): n is CaseTemplateName => templateKinds[n].scope === 'case');

/** Kinds customers read (layouts/default). */
export const customerTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'customer');

/** Kinds agents, leads and admins read (layouts/staff). */
export const staffTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'staff');

/** Web pages (layouts/page): rendered by the web server, never sent as email. */
export const webTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'web');

/** The declaration of one kind: when it is sent, audience, scope, variables. */
export function templateDeclaration(name: TemplateName): TemplateKindDeclaration {
  return templateKinds[name];
}

/** The layout a kind is wrapped in (by its audience). */
export function templateLayout(name: TemplateName): TemplateLayout {
  return layoutOfAudience[templateKinds[name].audience];
}

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(templateKinds, name);
}

/** The variable declarations of one kind (runtime view). */
export function templateVariables(name: TemplateName): VarFields {
  return templateKinds[name].variables;
}

/** Data made of the declared example values (trial renders, send-test, documentation). */
export function sampleTemplateData<N extends TemplateName>(name: N): TemplateDataMap[N] {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(templateVariables(name))) out[key] = exampleOf(spec);
  // Built from the declaration the type is derived from, so the shapes agree.
  return out as TemplateDataMap[N];
}

/** Every variable of a kind, flattened, depth-first in declaration order (for a reference page). */
export function listTemplateVariables(name: TemplateName): VariableInfo[] {
  return flattenVariables(templateVariables(name));
}

// ---------------------------------------------------------------------------------------------
// Saved replies (replies/<name>.text.hbs): text an agent puts into a reply with "#saved <name>"

/**
 * What a saved reply can use: the agent-reply's variables, less those about the reply it becomes
 * part of (reply, statusChange, bug) and those of one email or one copy of it: caseLink names the
 * reader of each copy (the reply's text goes to every copy; each carries its own link in the
 * layout's footer), replyMarker and isTest belong to the layout.
 */
const SAVED_REPLY_LEFT_OUT = ['reply', 'statusChange', 'bug', 'caseLink', 'replyMarker', 'isTest'] as const;
type SavedReplyFields = Omit<Kinds['agent-reply']['variables'], (typeof SAVED_REPLY_LEFT_OUT)[number]>;
export const savedReplyVariables: SavedReplyFields = Object.fromEntries(
  Object.entries(templateKinds['agent-reply'].variables).filter(([k]) => !(SAVED_REPLY_LEFT_OUT as readonly string[]).includes(k)),
) as SavedReplyFields;
export type SavedReplyData = DataOfFields<SavedReplyFields>;

/** Saved-reply data made of the declared examples (trial renders, `templates replies --preview`). */
export function sampleSavedReplyData(): SavedReplyData {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(savedReplyVariables)) out[key] = exampleOf(spec as VarFields[string]);
  return out as SavedReplyData;
}
