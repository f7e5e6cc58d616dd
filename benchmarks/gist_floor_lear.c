/* Timing harness for benchmarks/gist_floor.py: lear_gist with tuned FFT plans.
 *
 * No lear_gist code is in this repository. This file #includes lear_gist's own
 * gist.c (LEAR, (c) INRIA 2009, from a public copy such as
 * github.com/slackner/pyleargist, lear_gist/) at build time, and changes two
 * things, the "tuned lear_gist":
 *
 *   - every FFTW plan is made with FFTW_MEASURE instead of FFTW_ESTIMATE
 *     (after a warm-up call the plans come from FFTW's wisdom, so planning is
 *     cheap and does not touch the arrays);
 *   - the Gabor bank is built once (create_gabor), not on every call.
 *
 * It also offers the FFT floor of lear_gist's algorithm in C: the same
 * single-precision complex FFTs (2 forward + 2 inverse on the padded grid for
 * the prefilter, 1 forward + n_filters inverse for the Gabor bank) executed
 * from FFTW_MEASURE plans made once, and nothing else.
 *
 * Build (gist_floor.py does this):
 *   gcc -O2 -shared -fPIC -I<lear_gist dir> -DUSE_GIST -DSTANDALONE_GIST \
 *       gist_floor_lear.c <lear_gist dir>/standalone_image.c -lfftw3f -lm
 */
#include <fftw3.h>
#undef FFTW_ESTIMATE
#define FFTW_ESTIMATE FFTW_MEASURE
#include "gist.c"
#include <string.h>

static image_list_t *bank = NULL;
static int bank_n = 0, bank_blocks = 0, bank_filters = 0;

int lear_tuned_init(int n, int nblocks, int nscales, const int *ors)
{
    int i;
    if (bank) image_list_delete(bank);
    bank = create_gabor(nscales, ors, n, n);
    bank_n = n;
    bank_blocks = nblocks;
    bank_filters = 0;
    for (i = 0; i < nscales; i++) bank_filters += ors[i];
    return bank_filters * nblocks * nblocks;
}

/* One grayscale GIST, as bw_gist_scaletab() but with the cached bank. */
int lear_tuned_gist(const float *pixels, float *out)
{
    image_t *img = image_new(bank_n, bank_n);
    int j;
    for (j = 0; j < bank_n; j++)
        memcpy(img->data + j * img->stride, pixels + j * bank_n, bank_n * sizeof(float));
    prefilt(img, 4);
    float *g = gist_gabor(img, bank_blocks, bank);
    memcpy(out, g, bank_filters * bank_blocks * bank_blocks * sizeof(float));
    free(g);
    image_delete(img);
    return 0;
}

/* FFT floor: plans made once with FFTW_MEASURE on fixed buffers. */
static fftwf_complex *fa, *fb, *pa, *pb;
static fftwf_plan f_fwd, f_inv, p_fwd, p_inv;

void floor_init(int n, int padded)
{
    fa = fftwf_malloc(sizeof(fftwf_complex) * n * n);
    fb = fftwf_malloc(sizeof(fftwf_complex) * n * n);
    pa = fftwf_malloc(sizeof(fftwf_complex) * padded * padded);
    pb = fftwf_malloc(sizeof(fftwf_complex) * padded * padded);
    f_fwd = fftwf_plan_dft_2d(n, n, fa, fb, FFTW_FORWARD, FFTW_MEASURE);
    f_inv = fftwf_plan_dft_2d(n, n, fb, fa, FFTW_BACKWARD, FFTW_MEASURE);
    p_fwd = fftwf_plan_dft_2d(padded, padded, pa, pb, FFTW_FORWARD, FFTW_MEASURE);
    p_inv = fftwf_plan_dft_2d(padded, padded, pb, pa, FFTW_BACKWARD, FFTW_MEASURE);
    memset(fa, 0, sizeof(fftwf_complex) * n * n);
    memset(pa, 0, sizeof(fftwf_complex) * padded * padded);
    fa[1][0] = 1.0f;
    pa[1][0] = 1.0f;
}

/* lear_gist's prefilter FFTs: 2 forward + 2 inverse on the padded grid. */
void floor_prefilt(void)
{
    int i;
    for (i = 0; i < 2; i++) {
        fftwf_execute(p_fwd);
        fftwf_execute(p_inv);
    }
}

/* lear_gist's Gabor FFTs: 1 forward + n_inverse inverse on the image grid. */
void floor_gabor(int n_inverse)
{
    int k;
    fftwf_execute(f_fwd);
    for (k = 0; k < n_inverse; k++) fftwf_execute(f_inv);
}
