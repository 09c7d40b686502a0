#include <cblas.h>

/* LAPACK routines OpenBLAS exports (Fortran calling convention: every argument by
   pointer, column-major matrices). Declared here because Debian's OpenBLAS ships no
   LAPACKE header by default. */
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda,
             float *s, float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *info);
void sposv_(const char *uplo, const int *n, const int *nrhs, float *a, const int *lda, float *b,
            const int *ldb, int *info);
