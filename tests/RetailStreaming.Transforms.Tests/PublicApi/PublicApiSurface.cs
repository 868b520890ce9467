using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace RetailStreaming.Transforms.Tests.PublicApi;

/// <summary>
/// The public surface of an assembly as sorted text lines, read by reflection from the built
/// assembly: one line per type, base type, interface and member that a compiled transform can
/// bind to (public, or protected in a type it can derive from). Parameter names and nullability
/// annotations are left out: changing them does not break a compiled caller.
/// </summary>
public static class PublicApiSurface
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>The lines of <paramref name="assembly"/>'s public surface, sorted ordinally.</summary>
    public static IReadOnlyList<string> Of(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            var name = Name(type);
            lines.Add($"{name}: {Kind(type)}");
            if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && !type.IsEnum)
                lines.Add($"{name}: base {Name(b)}");
            foreach (var i in type.GetInterfaces())
                lines.Add($"{name}: implements {Name(i)}");
            foreach (var member in type.GetMembers(Declared))
                if (Member(type, member) is { } line)
                    lines.Add($"{name}: {line}");
        }
        return lines.Distinct().Order(StringComparer.Ordinal).ToList();
    }

    private static string Kind(Type t) =>
        t.IsInterface ? "interface"
        : t.IsEnum ? "enum " + Name(Enum.GetUnderlyingType(t))
        : t.IsValueType ? (t.IsDefined(typeof(IsReadOnlyAttribute)) ? "readonly struct" : "struct")
        : typeof(Delegate).IsAssignableFrom(t) ? "delegate " + Signature(t.GetMethod("Invoke")!)
        : t is { IsAbstract: true, IsSealed: true } ? "static class"
        : (t.IsAbstract ? "abstract " : t.IsSealed ? "sealed " : "") + "class";

    private static bool Visible(MethodBase? m, Type declaring) =>
        m is not null && (m.IsPublic || ((m.IsFamily || m.IsFamilyOrAssembly) && !declaring.IsSealed));

    private static string? Member(Type type, MemberInfo member)
    {
        switch (member)
        {
            case ConstructorInfo c when Visible(c, type) && !type.IsInterface:
                return $"{Access(c)}{(c.IsStatic ? "static " : "")}.ctor({Parameters(c)})";
            case MethodInfo m when Visible(m, type) && (!m.IsSpecialName || m.Name.StartsWith("op_", StringComparison.Ordinal)):
                return $"{Access(m)}{Modifiers(m, type)}method {Signature(m)}";
            case PropertyInfo p:
            {
                var get = p.GetMethod is { } g && Visible(g, type) ? g : null;
                var set = p.SetMethod is { } s && Visible(s, type) ? s : null;
                if (get is null && set is null) return null;
                var any = get ?? set!;
                var init = set?.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit)) == true;
                var indexer = p.GetIndexParameters() is { Length: > 0 } ix ? $"[{string.Join(", ", ix.Select(x => Name(x.ParameterType)))}]" : "";
                var accessors = (get is null ? "" : Access(get) + "get; ") + (set is null ? "" : Access(set) + (init ? "init; " : "set; "));
                return $"{Modifiers(any, type)}property {Name(p.PropertyType)} {p.Name}{indexer} {{ {accessors}}}";
            }
            case FieldInfo f when f.IsPublic || ((f.IsFamily || f.IsFamilyOrAssembly) && !type.IsSealed):
                if (type.IsEnum && f.IsSpecialName) return null; // value__
                return f.IsLiteral
                    ? $"{Access(f)}const {Name(f.FieldType)} {f.Name} = {Literal(f.GetRawConstantValue())}"
                    : $"{Access(f)}{(f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}field {Name(f.FieldType)} {f.Name}";
            case EventInfo e when Visible(e.AddMethod, type):
                return $"{Access(e.AddMethod!)}{Modifiers(e.AddMethod!, type)}event {Name(e.EventHandlerType!)} {e.Name}";
            default:
                return null;
        }
    }

    private static string Access(MethodBase m) => m.IsPublic ? "" : "protected ";

    private static string Access(FieldInfo f) => f.IsPublic ? "" : "protected ";

    /// <summary>static, abstract (a new one breaks every implementer), virtual (an overrider breaks when it goes).</summary>
    private static string Modifiers(MethodInfo m, Type declaring) =>
        m.IsStatic ? (m.IsAbstract ? "static abstract " : "static ")
        : m.IsAbstract ? "abstract "
        : m.IsVirtual && !m.IsFinal && !declaring.IsSealed ? "virtual "
        : "";

    private static string Signature(MethodInfo m)
    {
        var generic = m.IsGenericMethodDefinition ? $"<{string.Join(", ", m.GetGenericArguments().Select(a => a.Name))}>" : "";
        return $"{Name(m.ReturnType)} {m.Name}{generic}({Parameters(m)})";
    }

    private static string Parameters(MethodBase m) =>
        string.Join(", ", m.GetParameters().Select(p =>
            (p.ParameterType.IsByRef ? p.IsOut ? "out " : p.IsIn ? "in " : "ref " : "")
            + (p.IsDefined(typeof(ParamArrayAttribute)) ? "params " : "")
            + Name(p.ParameterType.IsByRef ? p.ParameterType.GetElementType()! : p.ParameterType)));

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A type's name as C# writes it, namespace included (nested types with '.').</summary>
    public static string Name(Type t)
    {
        if (t.IsGenericParameter) return t.Name;
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsPointer) return Name(t.GetElementType()!) + "*";
        var full = new StringBuilder();
        if (t.IsNested) full.Append(Name(t.DeclaringType!)).Append('.');
        else if (!string.IsNullOrEmpty(t.Namespace)) full.Append(t.Namespace).Append('.');
        var tick = t.Name.IndexOf('`');
        full.Append(tick < 0 ? t.Name : t.Name[..tick]);
        if (t.IsGenericType)
        {
            // Only the arguments this type adds (a nested type repeats its parent's).
            var own = t.GetGenericArguments().Skip(t.IsNested ? t.DeclaringType!.GetGenericArguments().Length : 0).ToArray();
            if (own.Length > 0) full.Append('<').Append(string.Join(", ", own.Select(Name))).Append('>');
        }
        return full.ToString();
    }
}
