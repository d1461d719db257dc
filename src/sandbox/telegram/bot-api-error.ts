/**
 * A refusal exactly as the Bot API words it: the HTTP status equals `error_code`, the description
 * starts with Telegram's prefix for that code, and 429 carries `parameters.retry_after`.
 */
export interface ResponseParameters {
  readonly retry_after?: number;
  readonly migrate_to_chat_id?: number;
}

export class BotApiError extends Error {
  override readonly name = 'BotApiError';
  readonly errorCode: number;
  readonly description: string;
  readonly parameters: ResponseParameters | undefined;

  constructor(errorCode: number, description: string, parameters?: ResponseParameters) {
    super(description);
    this.errorCode = errorCode;
    this.description = description;
    this.parameters = parameters;
  }

  toResponse(): { ok: false; error_code: number; description: string; parameters?: ResponseParameters } {
    return this.parameters ? { ok: false, error_code: this.errorCode, description: this.description, parameters: this.parameters } : { ok: false, error_code: this.errorCode, description: this.description };
  }
}

/** 400 Bad Request: <what>. */
export const badRequest = (what: string): BotApiError => new BotApiError(400, `Bad Request: ${what}`);
/** 403 Forbidden: <what>. */
export const forbidden = (what: string): BotApiError => new BotApiError(403, `Forbidden: ${what}`);
/** 409 Conflict: <what>. */
export const conflict = (what: string): BotApiError => new BotApiError(409, `Conflict: ${what}`);
export const tooManyRequests = (retryAfterSeconds: number): BotApiError => new BotApiError(429, `Too Many Requests: retry after ${retryAfterSeconds}`, { retry_after: retryAfterSeconds });
export const unauthorized = (): BotApiError => new BotApiError(401, 'Unauthorized');
export const notFound = (): BotApiError => new BotApiError(404, 'Not Found');

/** Telegram's wording for the refusals a bot meets most; tests assert on these strings. */
export const DESCRIPTIONS = {
  chatNotFound: 'chat not found',
  cantInitiate: "bot can't initiate conversation with a user",
  blocked: 'bot was blocked by the user',
  textEmpty: 'message text is empty',
  textTooLong: 'message is too long',
  captionTooLong: 'message caption is too long',
  notModified: 'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
  editNotFound: 'message to edit not found',
  deleteNotFound: 'message to delete not found',
  queryInvalid: 'query is too old and response timeout expired or query ID is invalid',
  buttonDataInvalid: 'BUTTON_DATA_INVALID',
  textButtonsInline: "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
  unsupportedParseMode: 'unsupported parse_mode',
  pollConflict: 'terminated by other getUpdates request; make sure that only one bot instance is running',
  webhookActive: "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
} as const;
