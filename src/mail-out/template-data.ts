/**
 * The variables every outgoing-email template can use: the single place where they are declared.
 *
 * Each template kind is one entry in `templateKinds`: a description plus a tree of variable
 * declarations (type, description, example). From that tree we derive
 *   - the TypeScript type of the data a caller must pass (`TemplateDataMap`),
 *   - the static check of the Handlebars files (unknown variables, `#each` item types),
 *   - sample data for trial renders and `send-test` (`sampleTemplateData`),
 *   - a reference page for admins (`listTemplateVariables`).
 *
 * Adding a template kind: add one entry to `templateKinds` and ship
 * `templates/<kind>.subject.hbs`, `<kind>.text.hbs` and `<kind>.html.hbs`.
 *
 * `body` is reserved: layouts receive the rendered body under that name.
 */

// ---------------------------------------------------------------------------------------------
// Declaration vocabulary

export interface StringVar {
  readonly type: 'string';
  readonly description: string;
  readonly example: string;
}

export interface NumberVar {
  readonly type: 'number';
  readonly description: string;
  readonly example: number;
}

export interface BooleanVar {
  readonly type: 'boolean';
  readonly description: string;
  readonly example: boolean;
}

export interface ObjectVar<F extends VarFields = VarFields> {
  readonly type: 'object';
  readonly description: string;
  readonly fields: F;
}

export interface ListVar<I extends VarSpec = VarSpec> {
  readonly type: 'list';
  readonly description: string;
  /** Declaration of one item; inside `{{#each}}` the item is `this`. */
  readonly item: I;
  readonly example: readonly DataOf<I>[];
}

export type VarSpec = StringVar | NumberVar | BooleanVar | ObjectVar | ListVar;

export type VarFields = { readonly [name: string]: VarSpec };

/** The data type a declaration describes. */
export type DataOf<S extends VarSpec> = S extends StringVar
  ? string
  : S extends NumberVar
    ? number
    : S extends BooleanVar
      ? boolean
      : S extends ListVar<infer I extends VarSpec>
        ? readonly DataOf<I>[]
        : S extends ObjectVar<infer F extends VarFields>
          ? DataOfFields<F>
          : never;

export type DataOfFields<F extends VarFields> = { readonly [K in keyof F]: DataOf<F[K]> };

const str = (description: string, example: string): StringVar => ({ type: 'string', description, example });
const num = (description: string, example: number): NumberVar => ({ type: 'number', description, example });
const bool = (description: string, example: boolean): BooleanVar => ({ type: 'boolean', description, example });
const obj = <F extends VarFields>(description: string, fields: F): ObjectVar<F> => ({
  type: 'object',
  description,
  fields,
});
const list = <I extends VarSpec>(description: string, item: I, example: readonly DataOf<I>[]): ListVar<I> => ({
  type: 'list',
  description,
  item,
  example,
});

// ---------------------------------------------------------------------------------------------
// Declarations

/** Variables every template kind gets. */
export const commonVariables = {
  instance: obj('This casegate installation.', {
    name: str('Name of the support organisation, as customers know it.', 'Example Support'),
  }),
  mailbox: obj('The support mailbox the case belongs to (replies go there).', {
    name: str('Display name of the mailbox.', 'Example Support'),
    address: str('Email address of the mailbox.', 'support@example.com'),
    queue: str('Queue the case is in.', 'general'),
  }),
  case: obj('The case this email is about.', {
    number: num('Case number.', 10042),
    tag: str('Subject tag that threads replies to the case; keep it in the subject.', '[Case #10042]'),
    subject: str('Subject of the case (from the customer’s first email).', 'Cannot log in since this morning'),
    status: str('Current status of the case.', 'open'),
    priority: str('Priority of the case.', 'normal'),
    createdAt: str('When the case was created, ISO 8601; use {{formatDate case.createdAt}}.', '2025-03-14T09:26:53Z'),
    language: str('Language of the case (e.g. "en", "de").', 'en'),
  }),
  customer: obj('The customer the email goes to.', {
    name: str('Display name of the customer; may be empty.', 'Jane Doe'),
    address: str('Email address of the customer.', 'jane@example.org'),
    greetingName: str('The customer’s name, or "there" when the name is unknown (English).', 'Jane Doe'),
  }),
  replyMarker: str(
    'Line above which customers type their reply; incoming replies are cut at it. Text and HTML parts must begin with it.',
    '##- Please type your reply above this line -##',
  ),
  isTest: bool('True when the email is sent with send-test (not a real case update).', false),
} as const satisfies VarFields;

export const templateKinds = {
  confirmation: {
    description: 'Sent to the customer when a new case was created from their email.',
    variables: {
      ...commonVariables,
      expectedResponse: str(
        'Expected first response time, in the case’s language (per queue configurable).',
        'within 4 business hours',
      ),
      helpfulInfo: list(
        'What helps us solve it faster (per queue configurable), in the case’s language.',
        str('One thing that helps.', 'screenshots of what you see'),
        [
          'screenshots of what you see',
          'the exact error message',
          'who is affected (just you, your team, everyone)',
          'when it started',
          'the steps that lead to the problem',
        ],
      ),
    },
  },
  reopened: {
    description: 'Sent to the customer when their reply reopened a resolved or closed case.',
    variables: {
      ...commonVariables,
      reply: obj('The customer’s reply that reopened the case.', {
        visibleText: str(
          'The new text of the reply (quoted history and signature removed).',
          'It happens again since the update yesterday.',
        ),
      }),
    },
  },
  'mailbox-alert': {
    description: 'Sent to instance.adminAddress when a watched IMAP mailbox has been failing for imap.alertAfterSeconds.',
    variables: mailboxAlertVariables(),
  },
  'mailbox-recovered': {
    description: 'Sent to instance.adminAddress when a mailbox that caused an alert works again.',
    variables: mailboxAlertVariables(),
  },
} as const satisfies { readonly [kind: string]: TemplateKindDeclaration };

/**
 * Health mail to the admin is not about a case, but the shared layouts (and their partials) are
 * written for case mail: they print case.tag, case.subject and case.language. Rather than a
 * second layout in the engine, these kinds declare exactly those three fields (tag is always
 * empty, subject is the alert's subject) and the layouts show the case footer only when there is
 * a tag. Everything about the alert itself is under `alert`.
 */
function mailboxAlertVariables() {
  return {
    instance: commonVariables.instance,
    mailbox: obj('The mailbox the alert is about.', {
      name: str('Name of the mailbox in the configuration.', 'support'),
      address: str('First address the mailbox serves.', 'support@example.com'),
      queue: str('Queue of the mailbox.', 'support'),
    }),
    case: obj('Not about a case: only what the shared layouts print.', {
      tag: str('Always empty for health mail (the layouts leave out the case footer).', ''),
      subject: str('The subject of this email.', 'Mailbox support is failing'),
      language: str('Language of the email (the default language).', 'en'),
    }),
    alert: obj('What happened to the mailbox.', {
      host: str('IMAP server (host:port).', 'imap.example.com:993'),
      user: str('Login name used.', 'support@example.com'),
      folder: str('Folder casegate watches.', 'INBOX'),
      state: str('Health state: backing-off or auth-failed (mailbox-recovered: the state it is in now).', 'auth-failed'),
      error: str('The last error.', 'authentication failed: AUTHENTICATIONFAILED Authentication failed.'),
      since: str('Failing since, ISO 8601; use {{formatDate alert.since}}.', '2025-03-14T09:26:53Z'),
      minutes: num('Minutes the mailbox has been (or was) failing.', 12),
      statusCommand: str('Command that shows the health of every mailbox.', 'casegate status'),
    }),
    replyMarker: commonVariables.replyMarker,
    isTest: commonVariables.isTest,
  } as const satisfies VarFields;
}

export interface TemplateKindDeclaration {
  readonly description: string;
  readonly variables: VarFields;
}

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
export const systemTemplateNames: readonly TemplateName[] = ['mailbox-alert', 'mailbox-recovered'];

/** Kinds sent to customers about a case (they get the full common data). */
export const caseTemplateNames: readonly TemplateName[] = templateNames.filter((n) => !systemTemplateNames.includes(n));

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(templateKinds, name);
}

/** The variable declarations of one kind (runtime view). */
export function templateVariables(name: TemplateName): VarFields {
  return templateKinds[name].variables;
}

function exampleOf(spec: VarSpec): unknown {
  switch (spec.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(spec.fields)) out[key] = exampleOf(field);
      return out;
    }
    case 'list':
      return [...spec.example];
    default:
      return spec.example;
  }
}

/** Data made of the declared example values (trial renders, send-test, documentation). */
export function sampleTemplateData<N extends TemplateName>(name: N): TemplateDataMap[N] {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(templateVariables(name))) out[key] = exampleOf(spec);
  // Built from the declaration the type is derived from, so the shapes agree.
  return out as TemplateDataMap[N];
}

export interface VariableInfo {
  /** Path as written in a template: `case.number`, `helpfulInfo` (list), `this` inside `#each`. */
  readonly path: string;
  readonly type: VarSpec['type'];
  readonly description: string;
  /** Example value (JSON-compatible); absent for objects. */
  readonly example?: unknown;
  /** For list items: the path of the list they belong to. */
  readonly itemOf?: string;
}

/** Every variable of a kind, flattened, depth-first in declaration order (for a reference page). */
export function listTemplateVariables(name: TemplateName): VariableInfo[] {
  const out: VariableInfo[] = [];
  const visit = (path: string, spec: VarSpec, itemOf?: string): void => {
    const base = { path, type: spec.type, description: spec.description, ...(itemOf !== undefined ? { itemOf } : {}) };
    if (spec.type === 'object') {
      out.push(base);
      for (const [key, field] of Object.entries(spec.fields)) {
        visit(itemOf !== undefined && path === 'this' ? key : `${path}.${key}`, field, itemOf);
      }
    } else if (spec.type === 'list') {
      out.push({ ...base, example: spec.example });
      visit('this', spec.item, path);
    } else {
      out.push({ ...base, example: spec.example });
    }
  };
  for (const [key, spec] of Object.entries(templateVariables(name))) visit(key, spec);
  return out;
}
