/** \file
 * Symbol export for the clgrad shared library.
 *
 * The library is built with hidden visibility; only declarations marked CLG_API
 * are exported. Users never define CLGRAD_BUILDING; the build system does. */
#ifndef CLGRAD_EXPORT_H
#define CLGRAD_EXPORT_H

#if defined(_WIN32) || defined(__CYGWIN__)
#  ifdef CLGRAD_BUILDING
#    define CLG_API __declspec(dllexport)
#  else
#    define CLG_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define CLG_API __attribute__((visibility("default")))
#else
#  define CLG_API
#endif

#ifdef __cplusplus
#  define CLG_BEGIN_DECLS extern "C" {
#  define CLG_END_DECLS }
#else
#  define CLG_BEGIN_DECLS
#  define CLG_END_DECLS
#endif

#endif
