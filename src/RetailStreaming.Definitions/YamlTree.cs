using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace RetailStreaming.Definitions;

/// <summary>A node of a definition file with its 1-based position.</summary>
internal abstract class YamlTreeNode(int line, int column)
{
    public int Line { get; } = line;
    public int Column { get; } = column;
}

internal sealed class YamlTreeScalar(int line, int column, string value, bool isPlain) : YamlTreeNode(line, column)
{
    public string Value { get; } = value;

    /// <summary>Unquoted: only then can <c>~</c>, <c>null</c> or nothing mean "no value".</summary>
    public bool IsPlain { get; } = isPlain;

    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";
}

internal sealed class YamlTreeMapping(int line, int column) : YamlTreeNode(line, column)
{
    /// <summary>Entries in file order, duplicates kept: the validator reports them with both positions.</summary>
    public List<KeyValuePair<YamlTreeNode, YamlTreeNode>> Entries { get; } = [];
}

internal sealed class YamlTreeSequence(int line, int column) : YamlTreeNode(line, column)
{
    public List<YamlTreeNode> Items { get; } = [];
}

/// <summary>
/// Builds a tree from YamlDotNet's parser events. The representation model (YamlStream) stops at the
/// first duplicate key; definitions must report every error at once, so duplicates are kept here and
/// judged by the validator.
/// </summary>
internal static partial class YamlTree
{
    /// <summary>Field name of errors about the YAML text itself rather than a field.</summary>
    public const string SyntaxField = "<yaml>";

    /// <summary>Field name of errors about the document as a whole.</summary>
    public const string DocumentField = "<document>";

    /// <summary>A definition nests four levels; the cap stops a hostile file early (the scanner slows down quadratically with flow depth).</summary>
    public const int MaxDepth = 32;

    /// <summary>A definition is a few hundred bytes; the cap bounds the memory and time one apply may take.</summary>
    public const int MaxLength = 1 << 20;

    /// <summary>Reads the only document of <paramref name="text"/>; null when there is none or the YAML is broken.</summary>
    public static YamlTreeNode? Read(string text, string file, List<DefinitionError> errors)
    {
        if (text.Length > MaxLength)
        {
            errors.Add(new DefinitionError(file, 1, 1, DocumentField,
                $"the file holds {text.Length} characters; a definition holds at most {MaxLength}"));
            return null;
        }

        // A byte order mark left in a string (read without decoding it) would become part of the first key.
        var scanner = new Scanner(new StringReader(text.StartsWith('\uFEFF') ? text[1..] : text), skipComments: true);
        var parser = new Parser(scanner);
        var anchors = new Dictionary<string, YamlTreeNode>(StringComparer.Ordinal);
        YamlTreeNode? root = null;
        var documents = 0;
        try
        {
            parser.Consume<StreamStart>();
            while (!parser.TryConsume<StreamEnd>(out _))
            {
                var start = parser.Consume<DocumentStart>();
                documents++;
                if (documents == 2)
                {
                    var (line, column) = Position(start.Start);
                    errors.Add(new DefinitionError(file, line, column, DocumentField,
                        "a definition file holds exactly one YAML document; found a second one (remove the '---' separator and what follows, or split the file)"));
                }

                var node = ReadNode(parser, anchors);
                parser.Consume<DocumentEnd>();
                if (documents == 1)
                    root = node;
            }
        }
        catch (YamlException e)
        {
            // Scanner errors carry the construct being scanned as Start and the offending character
            // as End (a tab on line 4 inside a mapping begun on line 1): point at the offence.
            var message = "invalid YAML: " + StripMark(e.Message).TrimEnd('.');
            var (line, column) = Position(e.Start);
            if (e.Start.Equals(Mark.Empty) && e.End.Equals(Mark.Empty))
                // Some scanner errors (a tab as indentation) carry no position; the scanner stopped at the offence.
                (line, column) = Position(scanner.CurrentPosition);
            else if (e.End.Line > e.Start.Line)
            {
                message += $" (in what begins at line {line}, column {column})";
                (line, column) = Position(e.End);
            }

            errors.Add(new DefinitionError(file, line, column, SyntaxField, message));
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this instead of a YamlException on some unterminated flow
            // collections; the scanner's position is where it gave up.
            var (line, column) = Position(scanner.CurrentPosition);
            errors.Add(new DefinitionError(file, line, column, SyntaxField,
                "invalid YAML: cannot parse past this point (is a '[', '{' or quote left open?)"));
            return null;
        }

        if (documents == 0)
            errors.Add(new DefinitionError(file, 1, 1, DocumentField,
                "the file is empty; expected a mapping with id, client, source, transform and delivery"));
        return root;
    }

    /// <summary>Reads one node without recursion, so a deeply nested file cannot overflow the stack.</summary>
    private static YamlTreeNode ReadNode(IParser parser, Dictionary<string, YamlTreeNode> anchors)
    {
        var open = new Stack<(YamlTreeNode Node, YamlTreeNode? PendingKey)>();
        while (true)
        {
            var current = parser.Current ?? throw new YamlException("unexpected end of the YAML stream");
            parser.MoveNext();
            YamlTreeNode completed;
            switch (current)
            {
                case Scalar scalar:
                {
                    var (line, column) = Position(scalar.Start);
                    completed = new YamlTreeScalar(line, column, scalar.Value, scalar.Style == ScalarStyle.Plain);
                    Remember(scalar, completed);
                    break;
                }
                case AnchorAlias alias:
                {
                    var (line, column) = Position(alias.Start);
                    if (!anchors.TryGetValue(alias.Value.Value, out completed!))
                        throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor defined before it");
                    break;
                }
                case MappingStart mapping:
                {
                    var (line, column) = Position(mapping.Start);
                    if (open.Count == MaxDepth)
                        throw new YamlException(mapping.Start, mapping.End, $"nested deeper than {MaxDepth} levels");
                    var node = new YamlTreeMapping(line, column);
                    Remember(mapping, node);
                    open.Push((node, null));
                    continue;
                }
                case SequenceStart sequence:
                {
                    var (line, column) = Position(sequence.Start);
                    if (open.Count == MaxDepth)
                        throw new YamlException(sequence.Start, sequence.End, $"nested deeper than {MaxDepth} levels");
                    var node = new YamlTreeSequence(line, column);
                    Remember(sequence, node);
                    open.Push((node, null));
                    continue;
                }
                case MappingEnd or SequenceEnd:
                    completed = open.Pop().Node;
                    break;
                default:
                    throw new YamlException(current.Start, current.End, $"unexpected {current.GetType().Name}");
            }

            if (open.Count == 0)
                return completed;

            var (parent, pendingKey) = open.Pop();
            if (parent is YamlTreeSequence list)
            {
                list.Items.Add(completed);
                open.Push((parent, null));
            }
            else if (pendingKey is null)
            {
                open.Push((parent, completed));
            }
            else
            {
                ((YamlTreeMapping)parent).Entries.Add(new(pendingKey, completed));
                open.Push((parent, null));
            }
        }

        void Remember(NodeEvent e, YamlTreeNode node)
        {
            if (!e.Anchor.IsEmpty)
                anchors[e.Anchor.Value] = node;
        }
    }

    private static (int Line, int Column) Position(Mark mark) =>
        ((int)Math.Clamp(mark.Line, 1, int.MaxValue), (int)Math.Clamp(mark.Column, 1, int.MaxValue));

    /// <summary>YamlDotNet prefixes messages with "(Line: l, Col: c, Idx: i) - (...): "; the error carries the position already.</summary>
    private static string StripMark(string message) => MarkPrefix().Replace(message, "");

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\):\s*")]
    private static partial Regex MarkPrefix();
}
