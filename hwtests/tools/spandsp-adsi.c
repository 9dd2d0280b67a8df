/*
 * Caller-ID spills and call-progress tones made by spandsp (libspandsp-dev),
 * an implementation independent of ours, for dering-fxo's tests: what our
 * decoders must understand is what a real generator sends.
 *
 *   spandsp-adsi clip|class|dtmf [--alert] [--corrupt N] FIELD...  > spill.s16
 *   spandsp-adsi tone FREQ LEVEL_DBM0 ON_MS OFF_MS SECONDS > tone.s16
 *
 * clip is ETSI EN 300 659 V.23 FSK, class Bellcore Bell 202 FSK, dtmf
 * ETSI CLIP by DTMF. The first FIELD is the message type (0x80 MDMF,
 * 0x04 SDMF; for dtmf the terminator, C or #), then TYPE=BODY, TYPE in hex
 * (0 for an SDMF's untyped fields) or one character for dtmf. --corrupt N
 * flips a bit of message byte N after spandsp has added the checksum, so
 * the spill carries a bad checksum. --alert sends the dual-tone alerting
 * signal (DT-AS, 2130 + 2750 Hz) before the spill. Output: 8 kHz signed 16-bit samples,
 * host order, on stdout. The message bytes go to stderr in hex.
 */
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spandsp.h>

static int field_type(const char *s, int dtmf)
{
    if (dtmf && strlen(s) == 1)
        return s[0];
    return (int) strtol(s, NULL, 0);
}

static int spill(int argc, char **argv)
{
    int standard;
    int dtmf = 0;
    if (strcmp(argv[1], "clip") == 0)
        standard = ADSI_STANDARD_CLIP;
    else if (strcmp(argv[1], "class") == 0)
        standard = ADSI_STANDARD_CLASS;
    else if (strcmp(argv[1], "dtmf") == 0)
        standard = ADSI_STANDARD_CLIP_DTMF, dtmf = 1;
    else
        return 2;
    int i = 2;
    int corrupt = -1;
    int alert = 0;
    if (i < argc && strcmp(argv[i], "--alert") == 0) {
        alert = 1;
        i++;
    }
    if (i + 1 < argc && strcmp(argv[i], "--corrupt") == 0) {
        corrupt = atoi(argv[i + 1]);
        i += 2;
    }
    if (i >= argc)
        return 2;
    adsi_tx_state_t *tx = adsi_tx_init(NULL, standard);
    uint8_t msg[256];
    int len = adsi_add_field(tx, msg, -1, (uint8_t) field_type(argv[i++], dtmf), NULL, 0);
    for (; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL)
            return 2;
        *eq = '\0';
        const char *body = eq + 1;
        len = adsi_add_field(tx, msg, len, (uint8_t) field_type(argv[i], dtmf),
                             (const uint8_t *) body, (int) strlen(body));
    }
    if (alert)
        adsi_tx_send_alert_tone(tx);
    if (adsi_tx_put_message(tx, msg, len) <= 0)
        return 3;
    if (corrupt >= 0 && corrupt < tx->msg_len)
        tx->msg[corrupt] ^= 0x01;
    for (int k = 0; k < tx->msg_len; k++)
        fprintf(stderr, "%02x ", tx->msg[k]);
    fprintf(stderr, "\n");
    int16_t amp[160];
    int n;
    while ((n = adsi_tx(tx, amp, 160)) > 0)
        fwrite(amp, sizeof(int16_t), (size_t) n, stdout);
    adsi_tx_free(tx);
    return 0;
}

static int tone(char **argv)
{
    int freq = atoi(argv[2]);
    int level = atoi(argv[3]);
    int on = atoi(argv[4]);
    int off = atoi(argv[5]);
    int total = atoi(argv[6]) * 8000;
    tone_gen_descriptor_t desc;
    /* An off time of 0 is a continuous tone. */
    tone_gen_descriptor_init(&desc, freq, level, 0, 0, on, off, 0, 0, 1);
    tone_gen_state_t *gen = tone_gen_init(NULL, &desc);
    int16_t amp[160];
    for (int done = 0; done < total; done += 160) {
        int n = tone_gen(gen, amp, 160);
        if (n < 160)
            memset(amp + n, 0, (size_t) (160 - n) * sizeof(int16_t));
        fwrite(amp, sizeof(int16_t), 160, stdout);
    }
    tone_gen_free(gen);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc >= 3 && strcmp(argv[1], "tone") != 0)
        rc = spill(argc, argv);
    else if (argc == 7)
        rc = tone(argv);
    if (rc == 2)
        fprintf(stderr, "usage: spandsp-adsi clip|class|dtmf [--alert] [--corrupt N] TYPE [T=BODY]...\n"
                        "       spandsp-adsi tone FREQ DBM0 ON_MS OFF_MS SECONDS\n");
    return rc;
}
