/**
 * What mail clients write above a quote, in the languages our customers use: forward markers,
 * "-----Original Message-----" lines, the labels of Outlook-style header blocks, the verbs of
 * attribution lines ("wrote", "schrieb", "a écrit" …) and the device lines phones add ("Sent from
 * my iPhone", "Von meinem iPhone gesendet" …).
 *
 * Every pattern here is linear: no nested or overlapping quantifiers, bounded repetition only.
 */

export const FORWARD_MARKER_RE = new RegExp(
  '^\\s*(?:-{2,}\\s*(?:forwarded message|forwarded e-?mail|weitergeleitete nachricht|message transf[ée]r[ée]|' +
    'mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|videresendt (?:meddelelse|melding)|' +
    'vidarebefordrat meddelande|mensagem encaminhada|wiadomo[śs][ćc] przekazana|p[řr]eposlan[áa] zpr[áa]va|' +
    'пересылаемое сообщение)\\s*-*|begin forwarded message\\s?:?|anfang der weitergeleiteten (?:nachricht|e-mail)\\s?:?|' +
    'd[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée])\\s?:?|inizio messaggio inoltrato\\s?:?|' +
    'comienzo del mensaje reenviado\\s?:?|in[íi]cio da mensagem (?:reencaminhada|encaminhada)\\s?:?)\\s*$',
  'i',
);

/** "-----Original Message-----" and its translations ("----- Original Message -----", "-----Reply Message-----" …). */
export const ORIGINAL_MESSAGE_RE = new RegExp(
  '^\\s*-{2,}\\s*(?:original message|reply message|original-nachricht|originalnachricht|urspr(?:[üu]|ue)ngliche nachricht|' +
    'antwort nachricht|message d[\'’]origine|message original|mensaje original|messaggio originale|' +
    'oorspronkelijk bericht|origineel bericht|oprindelig (?:meddelelse|besked)|opprinnelig melding|originalmeddelande|' +
    'ursprungligt meddelande|mensagem original|alkuper[äa]inen viesti|oryginalna wiadomo[śs][ćc]|' +
    'wiadomo[śs][ćc] oryginalna|p[ůu]vodn[íi] zpr[áa]va|p[ôo]vodn[áa] spr[áa]va|исходное сообщение|' +
    'оригинальное сообщение|eredeti [üu]zenet|orijinal ileti|mesaj original|αρχικό μήνυμα|' +
    'původní e-mail|mail original|e-mail original|courriel original|原始邮件|原始郵件|原邮件|元のメッセージ|원본 메시지|' +
    'الرسالة الأصلية|הודעה מקורית|ข้อความต้นฉบับ|оригінальне повідомлення|вихідне повідомлення)\\s*-*\\s*$',
  'i',
);

/**
 * A subject whose first prefix says "forwarded" (Outlook and webmail in many languages: FW:, Fwd:,
 * WG:, TR:, RV:, I:, ENC:, Doorst:, VB:, VL:, PD:, İLT:, Pārs.:, PRS:, TRS:, ΠΡΘ:, העבר:, إعادة توجيه:, 전달:, 转发: …), after marks a mail system puts in front
 * ("[EXTERNAL]", "*EXT*"). "RE: FW: …" is a reply. VS: is left out (Finnish reply, Danish forward).
 */
const FORWARD_SUBJECT_RE =
  /^(?:\s*(?:\[[^\]]{1,40}\]|\*[^*\s]{1,20}\*))*\s*(?:fwd?|wg|tr|rv|i|enc|doorst|vb|vl|pd|[iİı]lt|p[āa]rs\.?|prs|trs|πρθ|העבר|إعادة توجيه|اعادة توجيه|전달|转发|轉寄|转寄|転送)\s?(?:\[\d{1,3}\])?\s?[:：]/i;

export function isForwardSubject(subject: string): boolean {
  return FORWARD_SUBJECT_RE.test(subject.slice(0, 200));
}

export type HeaderKind = 'from' | 'date' | 'to' | 'cc' | 'subject';

/** Labels of the header block a client writes above a quote (Outlook, OWA, Yahoo, GMX, Apple forwards …). */
const HEADER_LABELS: Readonly<Record<HeaderKind, readonly string[]>> = {
  from: [
    'from', 'von', 'de', 'de la', 'van', 'da', 'fra', 'från', 'od', 'от', 'від', 'lähettäjä', 'feladó', 'expéditeur',
    'remitente', 'mittente', 'afzender', 'avsändare', 'nadawca', 'kimden', 'gönderen', 'από', 'מאת', 'من', 'dari',
    'từ', 'šalje', '差出人', '发件人', '寄件者', '보낸 사람', '보낸사람', 'จาก', 'प्रेषक', 'از',
  ],
  date: [
    'sent', 'date', 'gesendet', 'datum', 'envoyé', 'envoye', 'enviado', 'enviada', 'enviado el', 'fecha', 'inviato', 'data',
    'verzonden', 'sendt', 'skickat', 'wysłano', 'odesláno', 'odoslané', 'отправлено', 'надіслано', 'дата', 'lähetetty',
    'päivämäärä', 'elküldve', 'dátum', 'gönderildi', 'tarih', 'trimis', 'στάλθηκε', 'ημερομηνία', 'נשלח', 'תאריך',
    'تم الإرسال', 'التاريخ', 'dikirim', 'tanggal', 'đã gửi', 'ngày', 'poslano', '送信日時', '日付', '发送时间', '日期',
    '寄件日期', '時間', '보낸 날짜', 'message du', 'تاريخ الإرسال', 'أرسل', 'ส่ง', 'วันที่', 'भेजा गया', 'भेजा', 'दिनांक',
    'ارسال شده', 'تاریخ ارسال', 'تاریخ',
  ],
  to: [
    'to', 'an', 'à', 'a', 'para', 'aan', 'til', 'till', 'do', 'komu', 'кому', 'vastaanottaja', 'címzett', 'kime',
    'adresat', 'către', 'προς', 'אל', 'إلى', 'kepada', 'đến', 'prima', '宛先', '收件人', '收件者', '받는 사람', 'ถึง',
    'प्रति', 'به',
  ],
  cc: [
    'cc', 'bcc', 'kopie', 'copie', 'cci', 'kopia', 'копия', 'копія', 'kopio', 'másolatot kap', 'bilgi', 'κοιν', 'עותק',
    'نسخة', 'tembusan', '抄送', '副本', '참조',
  ],
  subject: [
    'subject', 'betreff', 'objet', 'sujet', 'asunto', 'oggetto', 'assunto', 'onderwerp', 'emne', 'ämne', 'temat',
    'předmět', 'predmet', 'тема', 'aihe', 'tárgy', 'konu', 'subiect', 'θέμα', 'נושא', 'الموضوع', 'perihal', 'subjek',
    'chủ đề', '件名', '主题', '主旨', '제목', 'เรื่อง', 'विषय', 'موضوع',
  ],
};

export const LABEL_KIND: ReadonlyMap<string, HeaderKind> = (() => {
  const map = new Map<string, HeaderKind>();
  for (const kind of Object.keys(HEADER_LABELS) as HeaderKind[]) {
    for (const label of HEADER_LABELS[kind]) map.set(label, kind);
  }
  return map;
})();

/** "From:", "*From:*", "**Von:**", "De :", "> Von:" is not one (quoted) … : an optional bold marker, a short label, a colon. */
export const HEADER_LABEL_RE = /^\s{0,8}\*{0,2}([^\s:：*][^:：*]{0,31}?)\s{0,2}\*{0,2}\s{0,2}[:：]/;

/** A header label anywhere in a line ("… 13:46Nadawca: …"): used to recognise header blocks collapsed into one line. */
export const INLINE_LABEL_RE = new RegExp(
  `(?:^|[\\s*>"'\\d])(${[...LABEL_KIND.keys()]
    .filter((l) => l.length >= 4)
    .sort((a, b) => b.length - a.length)
    .map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|')})\\s?\\*{0,2}\\s?[:：]`,
  'giu',
);

/**
 * The verb of an attribution line, anywhere in it: "On … X wrote:", "Am … schrieb X:",
 * "X schrieb am …:", "Op … heeft X het volgende geschreven:", "Wiadomość napisana przez X w dniu …:" …
 */
export const ATTRIBUTION_VERB_RE = new RegExp(
  '(?:^|[\\s,.)>"\'»])(?:wrote|writes|schrieb|a [ée]crit|[ée]crit|escribi[óo]|ha escrit|escreveu|ha scritto|scrisse|' +
    'schreef|geschreven|geschrieben|skrev|skrifaði|napisa[łl](?:\\(a\\)|a)?|napisana przez|pisze|napsal(?:\\(a\\)|a)?|' +
    'kirjoitti|kirjutas|rašė|написал(?:\\(а\\)|а)?|написав|пишет|пише|írta|yazdı|a scris|έγραψε|đã viết|' +
    'je napisao|je napisala|napísal(?:\\(a\\)|a)?|כתב|מאת|كتب|نوشت|menulis|ने लिखा|เขียนว่า|เขียน)(?=$|[\\s:：,.(-])|写道|寫道|작성|のメッセージ',
  'iu',
);

/** "… <a@b> sent:" (Samsung, some webmails): only with an address right before it. */
export const SENT_ATTRIBUTION_RE = /<[^\s<>]{1,200}@[^\s<>]{1,200}>\s{1,3}sent\s?:\s*$/i;

/** How an attribution usually starts: "On", "Le", "Am", "El" … (used for wrapped, multi-line attributions). */
export const ATTRIBUTION_START_RE =
  /^\s*(?:-{1,12}\s?)?(?:(?:On|Le|El|Il|Em|Am|Op|Den|På|Dne|Dnia|W dniu|В|Στις|Vào|Pe|În|Kl\.|pe|ma|ti|ke|to|la|su|lø|sø|ons|tor|fre)\s|\d|[\p{L}]{2,4}\.,?\s|在|"?[^\s"<>]{1,64}@[^\s<>]{1,200})/u;

/** Gmail's older "2014-03-20 8:48 GMT+01:00 Name <address>:" attribution (the colon may be missing). */
export const GMAIL_DATE_ATTRIBUTION_RE = /^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,200}<[^\s<>]{1,200}@[^\s<>]{1,200}>\s?(:?)\s*$/;

/**
 * Gmail in languages whose attribution has no verb: "пн, 8 янв. 2024 г. в 10:02, Support <a@b>:",
 * "2024年1月8日(月) 10:02 Support <a@b>:". An address in angle brackets right before the final
 * colon; taken only with a date and a time, and only directly above a quote.
 */
export const VERBLESS_ATTRIBUTION_RE = /<[^\s<>]{1,200}@[^\s<>]{1,200}>\s?[:：]\s*$/;

/** "---- John Smith wrote ----", "------On 12/29/1987 17:32 PM, Julius Caesar wrote-----" (Android, old Yahoo). */
export const DASHED_ATTRIBUTION_RE = /^\s*-{2,12}\s?\S.{0,300}\s?-{2,12}\s*$/;

/** A clock time ("10:07", "9.32", "02:23:18", Arabic "١٠:٠٢", Persian "۱۰:۰۲"): almost every attribution carries one. */
export const TIME_RE = /(?:^|[^0-9٠-٩۰-۹])[0-9٠-٩۰-۹]{1,2}[:.h][0-9٠-٩۰-۹]{2}(?:[^0-9٠-٩۰-۹]|$)/;
export const YEAR_RE = /(?:^|[^0-9٠-٩۰-۹])(?:19|20|١٩|٢٠|۱۹|۲۰)[0-9٠-٩۰-۹]{2}(?:[^0-9٠-٩۰-۹]|$)/;

/** Attribution starts that may share a line with the reply ("reply On Wed, … wrote:", "reply--- On …"). */
export const SHARED_LINE_START_RE = /(?:-{2,}\s?)?\b(?:On|Le|Am|El|Il|Em|Op|Den)\s/g;

/**
 * A line a phone or app adds below the writer's text. Below it comes either nothing or the
 * quoted history; the library knows only some of the English and German forms.
 */
/** A phone or tablet as device lines name it (for the languages whose "sent from" is also an everyday phrase). */
const DEVICE = '(?:iphone|ipad|android|samsung|galaxy|huawei|xiaomi|pixel|blackberry)';

export const DEVICE_SIGNATURE_RE = new RegExp(
  '^\\s*(?:sent from (?:my )?\\S|sent with \\S|sent via \\S|get outlook for \\S|outlook f[üu]r \\S.{0,20} (?:beziehen|herunterladen)|' +
    't[ée]l[ée]charger outlook pour \\S|obtener outlook para \\S|scarica outlook per \\S|outlook voor \\S.{0,20} downloaden|' +
    'h[äa]mta outlook f[öo]r \\S|pobierz (?:aplikację )?outlook \\S|von meinem \\S.{0,40} gesendet|' +
    'gesendet von (?:meinem )?\\S|gesendet mit (?:der |dem )?\\S|von \\S.{0,40} gesendet|envoy[ée] (?:de mon|depuis|à partir de) \\S|' +
    'enviado (?:desde|do meu|a partir do|de meu) \\S|inviato da(?:l mio)? \\S|verzonden (?:vanaf|met) \\S|verstuurd vanaf \\S|' +
    'skickat från \\S|sendt fra \\S|lähetetty \\S|wysłane z \\S|odesláno z \\S|odoslané z \\S|отправлено (?:с|из) \\S|' +
    'надіслано з \\S|\\S.{0,40}(?:umdan|imden|ümden|undan) gönderildi|az? \\S.{0,40} küldve|trimis de pe \\S|' +
    'στάλθηκε από \\S|dikirim dari \\S|从我的.{1,20}发送|從我的.{1,20}(?:傳送|發送)|发自我的.{1,20}|.{1,40}から送信(?:されました)?|.{1,20}에서 보냄|' +
    `أُ?رسلت من (?:الـ ?)?${DEVICE}|נשלח מה-?${DEVICE}|ส่งจาก ${DEVICE}|gửi từ ${DEVICE}|outlook for \\S{1,10} ?[のを]入手|` +
    'android用のoutlookを入手|ios用のoutlookを入手|获取 outlook \\S|取得 outlook \\S)',
  'iu',
);
/** Device lines are short. */
export const DEVICE_SIGNATURE_MAX = 90;
