/* A stand-in for Windows' bcryptprimitives.dll, for running the book's Windows builds under
 * Wine 8.0 (Debian 12's).
 *
 * Rust's standard library takes its random bytes (the seeds of HashMap's hasher) from
 * ProcessPrng in bcryptprimitives.dll, which real Windows 10 and later export and Wine 8.0
 * does not: without it, a Rust program fails to start under that Wine. This DLL has that one
 * function and forwards it to RtlGenRandom (exported by advapi32.dll as SystemFunction036),
 * which Wine has. tests/support/wine-run builds it with the mingw compiler and puts it next
 * to the program, where Windows looks for a DLL first. Newer Wine needs none of this. */
#include <windows.h>

typedef BOOLEAN(WINAPI *fill_random)(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    static fill_random fill;
    if (!fill) {
        fill = (fill_random)GetProcAddress(LoadLibraryA("advapi32.dll"), "SystemFunction036");
    }
    while (length > 0) {
        /* RtlGenRandom takes a ULONG length: large requests go in pieces. */
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!fill || !fill(data, piece)) {
            return FALSE;
        }
        data += piece;
        length -= piece;
    }
    return TRUE;
}
