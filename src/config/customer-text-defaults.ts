/**
 * The texts customers read that come from the configuration (cases.expectedResponse,
 * cases.helpfulInfo, cases.onHoldExpected), as shipped: English (the schema's defaults) and
 * German. A text left at its English default is shown in German to German cases
 * (src/cases/customer-texts.ts); a text the admin wrote is shown as written.
 */
export const CUSTOMER_TEXT_DEFAULTS = {
  en: {
    expectedResponse: 'within one business day',
    onHoldExpected: '1–2 business days',
    helpfulInfo: ['screenshots of what you see', 'the exact error message', 'who is affected (just you, your team, everyone)', 'when it started', 'the steps that lead to the problem'],
  },
  de: {
    expectedResponse: 'innerhalb eines Geschäftstages',
    onHoldExpected: '1–2 Geschäftstage',
    helpfulInfo: ['Bildschirmfotos von dem, was Sie sehen', 'die genaue Fehlermeldung', 'wer betroffen ist (nur Sie, Ihr Team, alle)', 'seit wann es auftritt', 'die Schritte, die zu dem Problem führen'],
  },
} as const;
